/**
 * The IPAM every integration shares (CNI, Docker): one lease table per fan bridge on this host.
 *
 * Implementations: `FileLeaseStore` (src/store/lease-file.ts; `<stateDir>/ipam/<bridge>.json`, one lock per file,
 * safe across processes) and `MemoryLeaseStore` (src/store/memory-leases.ts; for unit tests). Both apply the pure
 * transitions of src/core/ipam/leases.ts, so they behave identically.
 *
 * Usage (see `openLeaseStore` in src/store/lease-file.ts):
 *   const leases = openLeaseStore(paths.stateDir, fan);   // fan: a resolved Fan that is up
 *   const lease = await leases.allocate('docker:<endpoint>', 'eth0');          // next free address
 *   const fixed = await leases.allocate('cni:net:<id>', 'eth0', parseIpv4('250.3.4.9')); // static
 *   await leases.release('docker:<endpoint>', 'eth0');                         // idempotent
 *   await leases.gc((l) => !l.owner.startsWith('docker:') || live.has(l.owner)); // drop stale leases
 * Errors: `IpamError` (src/core/ipam/allocator.ts) with `kind` exhausted | outside | taken | reserved.
 * Prefix owners with the integration (`cni:`, `docker:`) so one integration's GC never touches another's leases.
 */
import type { Ipv4 } from '../core/address/ipv4.js';
import type { IpamPool } from '../core/ipam/pool.js';
import type { Lease, LeaseDetails } from '../core/ipam/leases.js';

export type { Lease, LeaseDetails, LeaseKey, PodRef } from '../core/ipam/leases.js';

export interface LeaseStore {
  /** The pool allocations come from; undefined for a store opened only to release or list (the fan is down). */
  readonly pool: IpamPool | undefined;
  /**
   * The lease of (owner, ifname): the existing one if it has one (a retry gets the same address), otherwise a new
   * one, from `request` when given, recording `details` (the pod it is for). Atomic: concurrent callers, in any
   * process, never get the same address.
   */
  allocate(owner: string, ifname: string, request?: Ipv4, details?: LeaseDetails): Promise<Lease>;
  /** Frees the lease of (owner, ifname); returns it, or undefined when there was none (not an error). */
  release(owner: string, ifname: string): Promise<Lease | undefined>;
  list(): Promise<Lease[]>;
  /** Removes every lease `keep` rejects and returns them. */
  gc(keep: (lease: Lease) => boolean): Promise<Lease[]>;
}

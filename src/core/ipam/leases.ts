/**
 * The lease table of one fan bridge and its transitions: allocate, release, garbage-collect. Pure: a store (file or
 * memory, see src/ports/leases.ts) loads the table, applies one transition under its lock, and saves the result.
 *
 * A lease is keyed by (owner, ifname): the owner names the attachment (`cni:<network>:<container id>`, a Docker
 * endpoint id, …), the interface name distinguishes several attachments of one owner. Allocating again for a key
 * that holds a lease returns that lease (a retried ADD gets the same address); releasing a key without a lease is
 * a no-op.
 */
import { type Ipv4, formatIpv4, u32 } from '../address/ipv4.js';
import { IpamError, allocateAddress } from './allocator.js';
import { type IpamPool, poolSize } from './pool.js';

export interface LeaseKey {
  readonly owner: string;
  readonly ifname: string;
}

/** The Kubernetes pod an attachment serves, as the runtime named it (CNI_ARGS K8S_POD_NAMESPACE/NAME/UID). */
export interface PodRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
}

/** What a lease records besides its key and address: who the attachment is for, when the runtime said so. */
export interface LeaseDetails {
  readonly pod?: PodRef;
}

export interface Lease extends LeaseKey, LeaseDetails {
  readonly address: Ipv4;
  /** ISO time of allocation. */
  readonly since: string;
}

export interface LeaseTable {
  readonly leases: readonly Lease[];
  /** The address handed out last (the allocator continues after it). */
  readonly last?: Ipv4;
}

export const EMPTY_LEASE_TABLE: LeaseTable = { leases: [] };

export function sameKey(a: LeaseKey, b: LeaseKey): boolean {
  return a.owner === b.owner && a.ifname === b.ifname;
}

export function describeLease(lease: LeaseKey): string {
  return `${lease.owner} (${lease.ifname})`;
}

export function findLease(table: LeaseTable, key: LeaseKey): Lease | undefined {
  return table.leases.find((l) => sameKey(l, key));
}

export function allocateLease(
  table: LeaseTable,
  pool: IpamPool,
  key: LeaseKey,
  request: Ipv4 | undefined,
  now: string,
  details: LeaseDetails = {},
): { readonly table: LeaseTable; readonly lease: Lease; readonly created: boolean } {
  const existing = findLease(table, key);
  if (existing) {
    if (request !== undefined && u32(request) !== existing.address) {
      throw new IpamError(
        'taken',
        `${describeLease(key)} already holds ${formatIpv4(existing.address)}, not the requested ${formatIpv4(request)}`,
        'release the attachment first (CNI DEL), then add it again with the new address',
        poolSize(pool),
      );
    }
    return { table, lease: existing, created: false };
  }
  const taken = new Map(table.leases.map((l) => [l.address, describeLease(l)] as const));
  const address = allocateAddress({
    pool,
    taken,
    ...(table.last !== undefined ? { last: table.last } : {}),
    ...(request !== undefined ? { request } : {}),
  });
  const lease: Lease = {
    owner: key.owner,
    ifname: key.ifname,
    address,
    since: now,
    ...(details.pod ? { pod: details.pod } : {}),
  };
  // A static request does not move the round-robin cursor: dynamic allocation continues where it was.
  const last = request === undefined ? address : table.last;
  return { table: { leases: [...table.leases, lease], ...(last !== undefined ? { last } : {}) }, lease, created: true };
}

export function releaseLease(
  table: LeaseTable,
  key: LeaseKey,
): { readonly table: LeaseTable; readonly released?: Lease } {
  const released = findLease(table, key);
  if (!released) return { table };
  return { table: { ...table, leases: table.leases.filter((l) => l !== released) }, released };
}

/** Keeps the leases `keep` accepts; returns the others as `removed`. */
export function collectLeases(
  table: LeaseTable,
  keep: (lease: Lease) => boolean,
): { readonly table: LeaseTable; readonly removed: readonly Lease[] } {
  const removed = table.leases.filter((l) => !keep(l));
  if (removed.length === 0) return { table, removed };
  return { table: { ...table, leases: table.leases.filter((l) => keep(l)) }, removed };
}

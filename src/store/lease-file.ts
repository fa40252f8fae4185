/**
 * The IPAM's lease tables on disk: `<stateDir>/ipam/<bridge>.json`, one per fan bridge, shared by every
 * integration (CNI, Docker). Each operation takes the file's lock (`<bridge>.json.lock`, see lock.ts), reads the
 * table, applies one pure transition (src/core/ipam/leases.ts) and writes the result atomically (temp + rename),
 * so concurrent processes never hand out one address twice and a crash never leaves a half-written table.
 * The state dir is /run/fan by default: leases live as long as the containers' network namespaces (until reboot).
 */
import { access, readdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { type Ipv4, formatCidr, formatIpv4, parseIpv4 } from '../core/address/ipv4.js';
import type { Fan } from '../core/config/resolve.js';
import { FanError } from '../core/errors.js';
import {
  type Lease,
  type LeaseDetails,
  type LeaseTable,
  type PodRef,
  allocateLease,
  collectLeases,
  releaseLease,
} from '../core/ipam/leases.js';
import { type IpamPool, poolOf } from '../core/ipam/pool.js';
import type { LeaseStore } from '../ports/leases.js';
import { readJson, writeJsonAtomic } from './json-file.js';
import { DEFAULT_LOCK_WAIT_MS, withLock } from './lock.js';
import { ensurePrivateDir, stateFsError } from './private-dir.js';

/**
 * How long a release waits for the table's lock. Longer than an allocation's wait: a DEL that gave up would leave its
 * lease behind (and its runtime may not call again), while an ADD that gives up is retried by its runtime.
 */
export const RELEASE_LOCK_WAIT_MS = 90_000;

const address = z.string().refine((s) => /^\d+\.\d+\.\d+\.\d+$/.test(s), 'not an IPv4 address');
/** Added after version 1 was first written: optional, so older tables read as they are (and older readers skip it). */
const podSchema = z.object({
  namespace: z.string().min(1),
  name: z.string().min(1),
  uid: z.string().min(1).optional(),
});
const leaseSchema = z.object({
  address,
  owner: z.string().min(1),
  ifname: z.string().min(1),
  since: z.string(),
  pod: podSchema.optional(),
});
const fileSchema = z.object({
  version: z.literal(1),
  /** Informational: the slice the table was last written for. */
  slice: z.string().optional(),
  last: address.optional(),
  leases: z.array(leaseSchema),
});
type LeaseFile = z.infer<typeof fileSchema>;

const EMPTY_FILE: LeaseFile = { version: 1, leases: [] };

export function ipamDir(stateDir: string): string {
  return `${stateDir}/ipam`;
}

export function leaseFilePath(stateDir: string, bridge: string): string {
  return `${ipamDir(stateDir)}/${bridge}.json`;
}

function decodePod(pod: z.infer<typeof podSchema>): PodRef {
  return { namespace: pod.namespace, name: pod.name, ...(pod.uid !== undefined ? { uid: pod.uid } : {}) };
}

function decode(file: LeaseFile): LeaseTable {
  return {
    leases: file.leases.map(({ pod, ...l }) => ({
      ...l,
      address: parseIpv4(l.address),
      ...(pod ? { pod: decodePod(pod) } : {}),
    })),
    ...(file.last !== undefined ? { last: parseIpv4(file.last) } : {}),
  };
}

function encode(table: LeaseTable, pool: IpamPool | undefined, previous: LeaseFile): LeaseFile {
  const slice = pool ? formatCidr(pool.slice) : previous.slice;
  return {
    version: 1,
    ...(slice !== undefined ? { slice } : {}),
    ...(table.last !== undefined ? { last: formatIpv4(table.last) } : {}),
    leases: table.leases.map((l) => ({
      address: formatIpv4(l.address),
      owner: l.owner,
      ifname: l.ifname,
      since: l.since,
      ...(l.pod ? { pod: l.pod } : {}),
    })),
  };
}

export interface AllocationRequest {
  readonly owner: string;
  readonly ifname: string;
  readonly request?: Ipv4;
  readonly details?: LeaseDetails;
}

export class FileLeaseStore implements LeaseStore {
  constructor(
    readonly path: string,
    readonly pool: IpamPool | undefined,
    private readonly now: () => Date = () => new Date(),
    private readonly lockWait: { readonly allocateMs: number; readonly releaseMs: number } = {
      allocateMs: DEFAULT_LOCK_WAIT_MS,
      releaseMs: RELEASE_LOCK_WAIT_MS,
    },
  ) {}

  get lockPath(): string {
    return `${this.path}.lock`;
  }

  /** Runs one read-transition-write cycle under the file's lock. `change` returns undefined to skip the write. */
  private async update<T>(
    change: (table: LeaseTable) => { table: LeaseTable; result: T } | undefined,
    fallback: T,
    waitMs: number,
  ): Promise<T> {
    await ensurePrivateDir(dirname(this.path));
    return withLock(
      this.lockPath,
      async () => {
        const file = await readJson(this.path, fileSchema, EMPTY_FILE);
        const outcome = change(decode(file));
        if (outcome === undefined) return fallback;
        await writeJsonAtomic(this.path, encode(outcome.table, this.pool, file));
        return outcome.result;
      },
      waitMs,
    );
  }

  async allocate(owner: string, ifname: string, request?: Ipv4, details?: LeaseDetails): Promise<Lease> {
    const pool = this.pool;
    if (!pool) {
      throw new FanError(
        `cannot allocate from ${this.path}: its fan is not up on this host`,
        'bring the fan up with fanctl up',
      );
    }
    const now = this.now().toISOString();
    let lease: Lease | undefined;
    await this.update(
      (table) => {
        const r = allocateLease(table, pool, { owner, ifname }, request, now, details);
        lease = r.lease;
        return r.created ? { table: r.table, result: undefined } : undefined;
      },
      undefined,
      this.lockWait.allocateMs,
    );
    if (!lease) throw new FanError(`internal: no lease after allocating in ${this.path}`);
    return lease;
  }

  /**
   * Several allocations in one lock cycle, in order (a long-running process batches concurrent requests): each gets
   * its lease or its error, exactly as separate `allocate` calls one after another would.
   */
  async allocateBatch(requests: readonly AllocationRequest[]): Promise<PromiseSettledResult<Lease>[]> {
    const pool = this.pool;
    if (!pool) {
      const reason = new FanError(
        `cannot allocate from ${this.path}: its fan is not up on this host`,
        'bring the fan up with fanctl up',
      );
      return requests.map(() => ({ status: 'rejected', reason }));
    }
    const now = this.now().toISOString();
    let results: PromiseSettledResult<Lease>[] = [];
    await this.update(
      (table) => {
        let current = table;
        let changed = false;
        results = requests.map((r): PromiseSettledResult<Lease> => {
          try {
            const outcome = allocateLease(
              current,
              pool,
              { owner: r.owner, ifname: r.ifname },
              r.request,
              now,
              r.details,
            );
            current = outcome.table;
            changed ||= outcome.created;
            return { status: 'fulfilled', value: outcome.lease };
          } catch (reason) {
            return { status: 'rejected', reason };
          }
        });
        return changed ? { table: current, result: undefined } : undefined;
      },
      undefined,
      this.lockWait.allocateMs,
    );
    return results;
  }

  async release(owner: string, ifname: string): Promise<Lease | undefined> {
    if (!(await exists(this.path))) return undefined; // nothing was ever allocated here: nothing to lock
    return this.update(
      (table) => {
        const r = releaseLease(table, { owner, ifname });
        return r.released ? { table: r.table, result: r.released } : undefined;
      },
      undefined,
      this.lockWait.releaseMs,
    );
  }

  async list(): Promise<Lease[]> {
    return [...decode(await readJson(this.path, fileSchema, EMPTY_FILE)).leases];
  }

  async gc(keep: (lease: Lease) => boolean): Promise<Lease[]> {
    if (!(await exists(this.path))) return [];
    return this.update(
      (table) => {
        const r = collectLeases(table, keep);
        return r.removed.length > 0 ? { table: r.table, result: [...r.removed] } : undefined;
      },
      [],
      this.lockWait.releaseMs,
    );
  }
}

/** The lease store of a fan that is up; `pool` narrows allocation (Docker's --ip-range), same file. */
export function openLeaseStore(stateDir: string, fan: Fan, pool: IpamPool = poolOf(fan)): FileLeaseStore {
  return new FileLeaseStore(leaseFilePath(stateDir, fan.bridge), pool);
}

/** The lease store of a bridge whose fan may be down: it can list, release and gc, not allocate. */
export function openLeaseStoreByBridge(stateDir: string, bridge: string): FileLeaseStore {
  return new FileLeaseStore(leaseFilePath(stateDir, bridge), undefined);
}

/** Bridges that have a lease table under `stateDir`. */
export async function leaseBridges(stateDir: string): Promise<string[]> {
  try {
    return (await readdir(ipamDir(stateDir)))
      .filter((n) => n.endsWith('.json'))
      .map((n) => n.slice(0, -'.json'.length))
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw await stateFsError(error, ipamDir(stateDir), 'list the lease tables in');
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

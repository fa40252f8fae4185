/**
 * An in-memory LeaseStore for unit tests: the same pure transitions as FileLeaseStore, serialised by a
 * promise chain instead of a file lock. Not used by production code.
 */
import type { Ipv4 } from '../core/address/ipv4.js';
import { FanError } from '../core/errors.js';
import {
  EMPTY_LEASE_TABLE,
  type Lease,
  type LeaseDetails,
  type LeaseTable,
  allocateLease,
  collectLeases,
  releaseLease,
} from '../core/ipam/leases.js';
import type { IpamPool } from '../core/ipam/pool.js';
import type { LeaseStore } from '../ports/leases.js';

export class MemoryLeaseStore implements LeaseStore {
  /** Shared with the views of `withPool`. */
  private state: { table: LeaseTable; queue: Promise<unknown> } = {
    table: EMPTY_LEASE_TABLE,
    queue: Promise.resolve(),
  };

  private get table(): LeaseTable {
    return this.state.table;
  }

  private set table(table: LeaseTable) {
    this.state.table = table;
  }

  constructor(
    readonly pool: IpamPool | undefined,
    private readonly now: () => string = () => '2025-01-01T00:00:00.000Z',
  ) {}

  /** Runs `work` after every earlier operation, like the file lock does across processes. */
  private serial<T>(work: () => T): Promise<T> {
    const run = this.state.queue.then(async () => {
      await Promise.resolve(); // yield, so callers really interleave
      return work();
    });
    this.state.queue = run.catch(() => undefined);
    return run;
  }

  allocate(owner: string, ifname: string, request?: Ipv4, details?: LeaseDetails): Promise<Lease> {
    return this.serial(() => {
      if (!this.pool) throw new FanError('cannot allocate: this store has no pool (its fan is not up)');
      const r = allocateLease(this.table, this.pool, { owner, ifname }, request, this.now(), details);
      this.table = r.table;
      return r.lease;
    });
  }

  release(owner: string, ifname: string): Promise<Lease | undefined> {
    return this.serial(() => {
      const r = releaseLease(this.table, { owner, ifname });
      this.table = r.table;
      return r.released;
    });
  }

  list(): Promise<Lease[]> {
    return this.serial(() => [...this.table.leases]);
  }

  gc(keep: (lease: Lease) => boolean): Promise<Lease[]> {
    return this.serial(() => {
      const r = collectLeases(this.table, keep);
      this.table = r.table;
      return [...r.removed];
    });
  }

  /** A store over the same table that allocates from `pool` (a narrowed pool of the same slice, like --ip-range). */
  withPool(pool: IpamPool): MemoryLeaseStore {
    const view = new MemoryLeaseStore(pool, this.now);
    view.state = this.state;
    return view;
  }
}

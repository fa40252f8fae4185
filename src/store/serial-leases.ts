/**
 * Lease stores for one long-running process (the agent) serving many concurrent calls: operations on one lease
 * file queue in memory, so each takes the file lock (still needed against fanctl, the Docker plugin in another
 * process and in-process CNI calls) uncontended, instead of every call polling the lock; and allocations that
 * arrive while the file is busy are done together in the next lock cycle (one read and one write for all).
 */
import type { Ipv4 } from '../core/address/ipv4.js';
import type { Lease, LeaseDetails, LeaseStore } from '../ports/leases.js';
import type { AllocationRequest, FileLeaseStore } from './lease-file.js';

interface PendingAllocation extends AllocationRequest {
  readonly resolve: (lease: Lease) => void;
  readonly reject: (reason: unknown) => void;
}

export class SerialLeaseQueues {
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly pending = new Map<string, PendingAllocation[]>();

  /** `store`, with its operations run one after another with those of every other store of the same file. */
  wrap(store: FileLeaseStore): LeaseStore {
    const serial = <T>(work: () => Promise<T>): Promise<T> => {
      const run = (this.queues.get(store.path) ?? Promise.resolve()).then(work);
      const tail = run.catch(() => undefined);
      this.queues.set(store.path, tail);
      void tail.then(() => {
        if (this.queues.get(store.path) === tail) this.queues.delete(store.path);
      });
      return run;
    };
    return {
      pool: store.pool,
      allocate: (owner: string, ifname: string, request?: Ipv4, details?: LeaseDetails): Promise<Lease> =>
        new Promise<Lease>((resolve, reject) => {
          const item: PendingAllocation = {
            owner,
            ifname,
            ...(request !== undefined ? { request } : {}),
            ...(details !== undefined ? { details } : {}),
            resolve,
            reject,
          };
          const batch = this.pending.get(store.path);
          if (batch) {
            batch.push(item);
            return;
          }
          const items = [item];
          this.pending.set(store.path, items);
          serial(async () => {
            this.pending.delete(store.path); // later arrivals form the next batch
            const results = await store.allocateBatch(items);
            results.forEach((r, i) =>
              r.status === 'fulfilled' ? items[i]?.resolve(r.value) : items[i]?.reject(r.reason),
            );
          }).catch((error: unknown) => items.forEach((it) => it.reject(error)));
        }),
      release: (owner: string, ifname: string): Promise<Lease | undefined> =>
        serial(() => store.release(owner, ifname)),
      list: (): Promise<Lease[]> => store.list(),
      gc: (keep: (lease: Lease) => boolean): Promise<Lease[]> => serial(() => store.gc(keep)),
    };
  }
}

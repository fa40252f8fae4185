/**
 * Lease stores for one long-running process (the agent) serving many concurrent calls: operations on one lease
 * file queue in memory, so each takes the file lock (still needed against fanctl, the Docker plugin in another
 * process and in-process CNI calls) once and uncontended, instead of every call polling the lock.
 */
import type { Ipv4 } from '../core/address/ipv4.js';
import type { Lease, LeaseStore } from '../ports/leases.js';
import type { FileLeaseStore } from './lease-file.js';

export class SerialLeaseQueues {
  private readonly queues = new Map<string, Promise<unknown>>();

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
      allocate: (owner: string, ifname: string, request?: Ipv4): Promise<Lease> => serial(() => store.allocate(owner, ifname, request)),
      release: (owner: string, ifname: string): Promise<Lease | undefined> => serial(() => store.release(owner, ifname)),
      list: (): Promise<Lease[]> => store.list(),
      gc: (keep: (lease: Lease) => boolean): Promise<Lease[]> => serial(() => store.gc(keep)),
    };
  }
}

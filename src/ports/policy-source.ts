/**
 * Where a fleet's policy document lives when it is not a file: one key in a store that can be watched (etcd,
 * src/etcd/policy-source.ts). The watcher (src/app/policy-watch.ts) sees only this interface, so it is tested with
 * a fake and a second store would be one more adapter.
 */
import type { WatchedDocument } from '../core/policy/watch.js';

export interface PolicySourceEvents {
  /** The key at a revision (also after each reconnect, so nothing missed while away is lost). */
  readonly document: (doc: WatchedDocument) => void;
  readonly connected: () => void;
  readonly disconnected: (error: string) => void;
}

export interface PolicySourceWatch {
  close(): Promise<void>;
}

export interface PolicySource {
  /** For messages and the status: `etcd http://127.0.0.1:2379 key /fan/policy`. */
  readonly description: string;
  /** Starts watching; reconnects by itself until closed. Never throws for an unreachable store. */
  watch(events: PolicySourceEvents): PolicySourceWatch;
  /** Writes the document; returns its revision. */
  publish(text: string): Promise<bigint>;
  /** The document as it is now. */
  read(): Promise<WatchedDocument>;
  close(): Promise<void>;
}

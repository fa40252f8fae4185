/**
 * Published Docker ports: the record of what is published (a state file, the truth) and the kernel table that
 * forwards them. Implemented by src/store/docker-ports.ts and src/kernel/port-table.ts, and by test fakes.
 */
import type { PublishedEndpoint } from '../core/attach/published-ports.js';

export interface PublishedPortsRecord {
  /**
   * Runs `change` on the recorded endpoints under one lock and records what it returns; `change` may apply the
   * kernel table first and throw, in which case nothing is recorded.
   */
  update(
    change: (entries: readonly PublishedEndpoint[]) => Promise<readonly PublishedEndpoint[]>,
  ): Promise<readonly PublishedEndpoint[]>;
  list(): Promise<readonly PublishedEndpoint[]>;
}

export interface PortTable {
  /** Makes the kernel table forward exactly `entries` (removes the table when there are none). */
  apply(entries: readonly PublishedEndpoint[]): Promise<void>;
}

/**
 * The nftables table `ip fan-ports` (src/codec/nft-ports.ts) loaded with `nft -f -`. A table of that name that
 * lacks fan's mark belongs to someone else: it is left alone and the call fails with a fix.
 */
import { FAN_PORTS_TABLE, isFanPortTable, renderPortTableReplace } from '../codec/nft-ports.js';
import type { PublishedEndpoint } from '../core/attach/published-ports.js';
import { FanError } from '../core/errors.js';
import type { PortTable } from '../ports/published-ports.js';
import type { CommandRunner } from '../ports/runner.js';

export class NftPortTable implements PortTable {
  constructor(private readonly runner: CommandRunner) {}

  async apply(entries: readonly PublishedEndpoint[]): Promise<void> {
    const current = await this.runner.run(['nft', 'list', 'table', 'ip', FAN_PORTS_TABLE], { allowFailure: true });
    const exists = current.exitCode === 0;
    if (exists && !isFanPortTable(current.stdout)) {
      throw new FanError(
        `nftables table ip ${FAN_PORTS_TABLE} exists and is not fan's`,
        `rename or delete it (nft delete table ip ${FAN_PORTS_TABLE}) if nothing else uses it; ` +
          `fan keeps published Docker ports there`,
      );
    }
    if (entries.length === 0) {
      if (exists) await this.runner.run(['nft', 'delete', 'table', 'ip', FAN_PORTS_TABLE]);
      return;
    }
    await this.runner.run(['nft', '-f', '-'], { input: renderPortTableReplace(entries) });
  }
}

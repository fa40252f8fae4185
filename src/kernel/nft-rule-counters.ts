/** Reads the counters of fan's nftables table (`nft -j list table ip fan`); undefined when it cannot be read. */
import { type RuleCounter, decodeNftRuleCounters } from '../codec/nft-rule-counters.js';
import { FAN_NFT_TABLE } from '../core/model/host-state.js';
import type { CommandRunner } from '../ports/runner.js';

export async function readNftCounters(runner: CommandRunner): Promise<RuleCounter[] | undefined> {
  const out = await runner
    .run(['nft', '-j', 'list', 'table', 'ip', FAN_NFT_TABLE], { allowFailure: true })
    .catch(() => undefined);
  if (out === undefined || out.exitCode !== 0) return undefined;
  return decodeNftRuleCounters(out.stdout);
}

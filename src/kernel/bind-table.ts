/**
 * The kernel side of port binding: reading `bridge fan-bind` back, loading it whole, and changing its elements one
 * attachment at a time. Only the table carrying fan's comment is touched.
 */
import { BIND_TABLE, type BindTableContent, decodeBindJson, decodeBindKey } from '../codec/bind-nft.js';
import { FanError } from '../core/errors.js';
import type { CommandRunner } from '../ports/runner.js';

export interface BindTableState {
  /** The table exists. */
  readonly present: boolean;
  /** Its key, when it carries fan's comment. */
  readonly key?: string;
  readonly content?: BindTableContent;
}

export async function readBindTable(runner: CommandRunner): Promise<BindTableState> {
  // Both listings at once: the text carries fan's key, the JSON the content (`fanctl up` waits on both).
  const [listing, json] = await Promise.all([
    runner.run(['nft', 'list', 'table', 'bridge', BIND_TABLE], { allowFailure: true }),
    runner.run(['nft', '-j', 'list', 'table', 'bridge', BIND_TABLE], { allowFailure: true }),
  ]);
  if (listing.exitCode !== 0) return { present: false };
  const key = decodeBindKey(listing.stdout);
  if (key === undefined) return { present: true };
  if (json.exitCode !== 0) return { present: true, key };
  return { present: true, key, content: decodeBindJson(json.stdout) };
}

/** Runs one nft script as one transaction. */
export async function loadBindScript(runner: CommandRunner, script: string): Promise<void> {
  const out = await runner.run(['nft', '-f', '-'], { input: script, allowFailure: true });
  if (out.exitCode !== 0) {
    throw new FanError(
      `nft refused fan's port-binding table (exit ${out.exitCode}): ${out.stderr.trim()}`,
      'check that nftables works here (nft list ruleset), then run fanctl up again',
    );
  }
}

/**
 * Applies `remove` then `add` in one transaction. An element to remove that is gone fails the whole batch: then
 * the removals go one by one (gone is fine) and the additions in a batch of their own. An addition that fails
 * means the table is not there: the attachment must not go ahead unbound.
 */
export async function changeBindElements(
  runner: CommandRunner,
  remove: readonly string[],
  add: readonly string[],
): Promise<void> {
  const all = [...remove, ...add];
  if (all.length === 0) return;
  const batch = await runner.run(['nft', '-f', '-'], { input: `${all.join('\n')}\n`, allowFailure: true });
  if (batch.exitCode === 0) return;
  for (const line of remove) await runner.run(['nft', '-f', '-'], { input: `${line}\n`, allowFailure: true });
  if (add.length === 0) return;
  const out = await runner.run(['nft', '-f', '-'], { input: `${add.join('\n')}\n`, allowFailure: true });
  if (out.exitCode !== 0) {
    throw new FanError(
      `cannot bind the port in nftables table bridge ${BIND_TABLE}: ${out.stderr.trim() || `nft exit ${out.exitCode}`}`,
      'the table is created by fanctl up: run fanctl up again (it changes nothing else that is in place)',
    );
  }
}

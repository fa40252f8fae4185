/**
 * fan's nftables table, present and current: the live ruleset (`nft list table ip fan`) compared line by line
 * with the table fan renders for the fans that are up, counters ignored. The key in the table's comment alone
 * would not notice a flushed chain or a rule someone deleted by hand.
 */
import { normalizeRuleset, renderNftTable } from '../../codec/nft.js';

export { normalizeRuleset };
import { FAN_NFT_TABLE } from '../../core/model/host-state.js';
import { natKey } from '../../core/plan/diff.js';
import { type Check, fail, ok, skip } from '../check.js';

export interface NftObservation {
  /** What fan would load, or undefined when no fan is up. */
  readonly expected?: string;
  /** `nft list table ip fan`, or undefined when the table is absent. */
  readonly live?: string;
  readonly reup: string;
}

export const nftCheck: Check<NftObservation> = {
  id: 'nft',
  title: `nftables table ip ${FAN_NFT_TABLE}`,
  async gather(ctx) {
    const nat = ctx.desired.nat;
    const live = await ctx.runner.run(['nft', 'list', 'table', 'ip', FAN_NFT_TABLE], { allowFailure: true });
    return {
      ...(nat ? { expected: renderNftTable(nat, natKey(nat)) } : {}),
      ...(live.exitCode === 0 ? { live: live.stdout } : {}),
      reup: ctx.reup,
    };
  },
  judge(o) {
    if (o.expected === undefined) {
      return o.live === undefined
        ? skip('no fan is up and no table')
        : ok(`no fan is up; a table ip ${FAN_NFT_TABLE} is left (fanctl down removes fan's)`);
    }
    if (o.live === undefined) {
      return fail(
        `table ip ${FAN_NFT_TABLE} is missing: no egress NAT, no anti-spoofing on the bridges, no MSS clamping`,
        `${o.reup} (reloads it)`,
      );
    }
    const want = normalizeRuleset(o.expected);
    const have = normalizeRuleset(o.live);
    const missing = want.filter((l) => !have.includes(l));
    const extra = have.filter((l) => !want.includes(l));
    if (missing.length === 0 && extra.length === 0 && want.join('\n') === have.join('\n'))
      return ok(`table ip ${FAN_NFT_TABLE} is exactly what fan renders (${want.length} lines)`);
    const parts = [...missing.map((l) => `missing: ${l}`), ...extra.map((l) => `unexpected: ${l}`)];
    return fail(
      `table ip ${FAN_NFT_TABLE} differs from what fan renders: ${parts.slice(0, 4).join('; ')}` +
        `${parts.length > 4 ? `; and ${parts.length - 4} more` : ''}` +
        `${parts.length === 0 ? 'same lines, other order' : ''}`,
      `${o.reup} (reloads the table as fan renders it)`,
    );
  },
};

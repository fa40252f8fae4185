/**
 * The counters of fan's nftables table, from `nft -j list table ip fan`: every rule with a `counter` statement,
 * named by its comment (fan writes `fan: …` comments on its rules). Pure.
 */
import { z } from 'zod';

export interface RuleCounter {
  /** The rule's comment without the `fan: ` prefix; `chain NAME, handle N` for a rule without a comment. */
  readonly rule: string;
  readonly packets: number;
  readonly bytes: number;
}

const counter = z.object({ packets: z.number(), bytes: z.number() });
const rule = z
  .object({
    chain: z.string().optional(),
    handle: z.number().optional(),
    comment: z.string().optional(),
    expr: z.array(z.record(z.unknown())).optional(),
  })
  .passthrough();
const listing = z.object({ nftables: z.array(z.record(z.unknown())) });

export function decodeNftRuleCounters(json: string): RuleCounter[] {
  const out: RuleCounter[] = [];
  for (const item of listing.parse(JSON.parse(json)).nftables) {
    const parsed = rule.safeParse(item.rule);
    if (!parsed.success) continue;
    const r = parsed.data;
    for (const expr of r.expr ?? []) {
      const c = counter.safeParse(expr.counter);
      if (!c.success) continue;
      const name = r.comment?.replace(/^fan:\s*/, '') ?? `chain ${r.chain ?? '?'}, handle ${r.handle ?? '?'}`;
      out.push({ rule: name, packets: c.data.packets, bytes: c.data.bytes });
    }
  }
  return out;
}

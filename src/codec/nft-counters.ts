/** The counters of fan's nftables rules from `nft -j list table ip fan`, keyed by rule comment. Pure. */
import { z } from 'zod';

const ruleItem = z
  .object({
    rule: z
      .object({
        chain: z.string(),
        comment: z.string().optional(),
        expr: z.array(z.record(z.unknown())),
      })
      .passthrough(),
  })
  .passthrough();
const counter = z.object({ packets: z.number(), bytes: z.number() });

/** `chain: comment` → packets, for every rule with a counter. */
export function decodeNftCounters(json: string): Map<string, number> {
  const out = new Map<string, number>();
  if (json.trim() === '') return out;
  const items = z.object({ nftables: z.array(z.unknown()) }).parse(JSON.parse(json)).nftables;
  for (const item of items) {
    const parsed = ruleItem.safeParse(item);
    if (!parsed.success) continue;
    const { chain, comment, expr } = parsed.data.rule;
    for (const e of expr) {
      const c = counter.safeParse(e.counter);
      if (c.success) out.set(`${chain}: ${comment ?? '(no comment)'}`, c.data.packets);
    }
  }
  return out;
}

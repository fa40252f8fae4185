/** Decodes `tc -j qdisc show`. Pure. */
import { z } from 'zod';

const qdiscList = z.array(
  z.object({ kind: z.string(), dev: z.string().optional(), ingress_block: z.number().optional() }).passthrough(),
);

/** Device → the tc shared block its clsact ingress is bound to (a fast path's bridge, and its ports). */
export function decodeIngressBlocks(json: string): Map<string, number> {
  const blocks = new Map<string, number>();
  for (const q of qdiscList.parse(JSON.parse(json.trim() === '' ? '[]' : json))) {
    if (q.kind === 'clsact' && q.dev !== undefined && q.ingress_block !== undefined) blocks.set(q.dev, q.ingress_block);
  }
  return blocks;
}

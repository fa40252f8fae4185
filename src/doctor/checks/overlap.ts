/**
 * Routes and addresses that are not fan's but overlap an overlay: the host then sends part of the overlay
 * somewhere else (a more specific route wins over fan's), or answers for a container's address itself.
 */
import { type Cidr, contains, formatCidr } from '../../core/address/ipv4.js';
import { FAN_ROUTE_PROTO, isFanOwned } from '../../core/model/host-state.js';
import { type Check, fail, ok, skip } from '../check.js';

export interface OverlapObservation {
  readonly overlays: readonly Cidr[];
  readonly routes: readonly { readonly dst: Cidr; readonly dev?: string; readonly protocol?: string }[];
  readonly addresses: readonly { readonly dev: string; readonly cidr: Cidr }[];
}

const overlapsCidr = (a: Cidr, b: Cidr): boolean => contains(a, b.address) || contains(b, a.address);

export const overlapCheck: Check<OverlapObservation> = {
  id: 'overlap',
  title: 'routes and addresses overlapping an overlay',
  async gather(ctx) {
    const fanDevices = new Set(ctx.facts.interfaces.filter(isFanOwned).map((i) => i.name));
    return {
      overlays: ctx.fans.map((f) => f.map.overlay),
      routes: ctx.facts.routes
        .filter((r) => r.protocol !== String(FAN_ROUTE_PROTO) && !(r.dev !== undefined && fanDevices.has(r.dev)))
        .map((r) => ({
          dst: r.dst,
          ...(r.dev ? { dev: r.dev } : {}),
          ...(r.protocol ? { protocol: r.protocol } : {}),
        })),
      addresses: ctx.facts.interfaces
        .filter((i) => !fanDevices.has(i.name))
        .flatMap((i) => i.addresses.map((cidr) => ({ dev: i.name, cidr }))),
    };
  },
  judge(o) {
    if (o.overlays.length === 0) return skip('no fan is up');
    const problems: string[] = [];
    const fixes: string[] = [];
    for (const overlay of o.overlays) {
      for (const r of o.routes) {
        if (r.dst.prefix === 0 || !overlapsCidr(overlay, r.dst)) continue;
        problems.push(
          `route ` +
            `${formatCidr(r.dst)}${r.dev ? ` dev ${r.dev}` : ''}${r.protocol ? ` proto ${r.protocol}` : ''} ` +
            `overlaps overlay ${formatCidr(overlay)}`,
        );
        fixes.push(`ip route del ${formatCidr(r.dst)}${r.dev ? ` dev ${r.dev}` : ''}`);
      }
      for (const a of o.addresses) {
        if (!contains(overlay, a.cidr.address)) continue;
        problems.push(`address ${formatCidr(a.cidr)} on ${a.dev} is inside overlay ${formatCidr(overlay)}`);
        fixes.push(`ip address del ${formatCidr(a.cidr)} dev ${a.dev}`);
      }
    }
    if (problems.length > 0)
      return fail(
        `${problems.join('; ')}: that part of the overlay does not go through fan`,
        `${fixes.join('; ')} (or move the fan to an overlay nothing else uses)`,
      );
    return ok(`nothing but fan routes ${o.overlays.map(formatCidr).join(', ')}`);
  },
};

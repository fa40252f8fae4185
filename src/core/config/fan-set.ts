/**
 * The checks a set of fans must pass together on one host, with no host facts: disjoint overlays and distinct
 * bridges. `fanctl up` (resolveFans) and `fanctl config check` (parseFanConfig) both use fanSetConflicts, so a
 * config that passes the check is never refused by `up -a` for these reasons.
 */
import { type Cidr, network } from '../address/ipv4.js';
import { type FanConflict, bridgeNameOf, overlayConflicts } from '../mapping/fan.js';
import type { FanSpec } from './fan-spec.js';

export interface FanIdentity {
  readonly overlay: Cidr;
  readonly bridge: string;
}

/** The bridge a spec's fan gets: --bridge, or the name derived from the overlay. */
export function bridgeOfSpec(spec: Pick<FanSpec, 'overlay' | 'bridge'>): string {
  return spec.bridge ?? bridgeNameOf(network(spec.overlay));
}

/** Every conflict between the fans of `fans` (indexes into it), overlaps first. */
export function fanSetConflicts(fans: readonly FanIdentity[]): FanConflict[] {
  const conflicts = overlayConflicts(fans.map((f) => f.overlay));
  for (let i = 0; i < fans.length; i++) {
    for (let j = i + 1; j < fans.length; j++) {
      const bridge = (fans[i] as FanIdentity).bridge;
      if (bridge === (fans[j] as FanIdentity).bridge && !conflicts.some((c) => c.first === i && c.second === j)) {
        conflicts.push({
          first: i,
          second: j,
          message: `two fans use bridge ${bridge}`,
          hint: 'give one of them --bridge NAME',
        });
      }
    }
  }
  return conflicts;
}

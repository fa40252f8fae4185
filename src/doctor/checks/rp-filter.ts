/**
 * Reverse-path filtering on the devices fan's traffic arrives on: the bridge (from containers) and the tunnel, or
 * the underlay device for host-gw (from other hosts' containers). The kernel uses the larger of
 * `conf.all.rp_filter` and the device's own value; strict mode (1) drops a packet unless the route back to its
 * source leaves through the device it came in on, so a stray route for a slice breaks exactly that slice.
 */
import { formatIpv4, hostMask, u32 } from '../../core/address/ipv4.js';
import { type Fan } from '../../core/config/resolve.js';
import { sliceOf } from '../../core/mapping/fan.js';
import { TUNNEL_DEVICE } from '../../backends/vxlan/backend.js';
import { firstContainerAddress } from '../../core/plan/host-plan.js';
import { type Check, type Finding, combine, fail, ok, skip } from '../check.js';
import { readSysctl, routeDevice } from '../gather.js';
import { carriesVxlan } from '../../backends/registry.js';

export interface RpPath {
  readonly dev: string;
  /** The device's own rp_filter. */
  readonly value: number;
  /** A source address packets arriving on `dev` carry. */
  readonly sample: string;
  /** Where the route back to `sample` goes (undefined: no route). */
  readonly routeDev: string | undefined;
}

export interface RpFilterObservation {
  readonly all: number;
  readonly paths: readonly RpPath[];
}

/** Another host of the fan's underlay (the neighbour address, skipping network and broadcast). */
export function otherHost(fan: Fan): number {
  const bits = hostMask(fan.map.underlay.prefix);
  const up = u32(fan.host.host + 1);
  return (up & bits) === bits ? u32(fan.host.host - 1) : up;
}

export const rpFilterCheck: Check<RpFilterObservation> = {
  id: 'rp-filter',
  title: 'reverse-path filter on fan paths',
  async gather(ctx) {
    const num = async (key: string): Promise<number> => Number((await readSysctl(ctx.runner, key)) ?? '0');
    const paths: RpPath[] = [];
    for (const fan of ctx.fans) {
      const peerDev = carriesVxlan(fan) ? TUNNEL_DEVICE : fan.device;
      const remote = formatIpv4(u32(sliceOf(fan.map, otherHost(fan)).address + 2));
      const local = formatIpv4(firstContainerAddress(fan));
      for (const [dev, sample] of [
        [fan.bridge, local],
        [peerDev, remote],
      ] as const) {
        paths.push({
          dev,
          value: await num(`net.ipv4.conf.${dev}.rp_filter`),
          sample,
          routeDev: await routeDevice(ctx.runner, sample),
        });
      }
    }
    return { all: await num('net.ipv4.conf.all.rp_filter'), paths };
  },
  judge(o) {
    if (o.paths.length === 0) return skip('no fan is up');
    const findings = o.paths.map((p): Finding => {
      const effective = Math.max(o.all, p.value);
      const mode = effective === 1 ? 'strict' : effective === 2 ? 'loose' : 'off';
      if (effective === 1 && p.routeDev !== p.dev) {
        return fail(
          `rp_filter is strict on ${p.dev}, ` +
            `and the route back to ${p.sample} goes ${p.routeDev ? `via ${p.routeDev}` : 'nowhere'}: ` +
            `packets from there arriving on ${p.dev} are dropped`,
          `remove the route that takes ${p.sample} away from ${p.dev} (ip route get ${p.sample}), ` +
            `or set loose mode: sysctl -w net.ipv4.conf.${p.dev}.rp_filter=2 net.ipv4.conf.all.rp_filter=2`,
        );
      }
      if (effective === 2 && p.routeDev === undefined) {
        return fail(
          `rp_filter is loose on ${p.dev} but there is no route at all back to ${p.sample}`,
          `bring the fan up again so its routes exist`,
        );
      }
      return ok(`${p.dev}: ${mode}`);
    });
    return combine(findings, skip('no fan is up'));
  },
};

/**
 * MTU consistency along fan's paths: underlay device → tunnel (underlay − 50 for vxlan) → bridge and the overlay
 * route (the fan MTU) → every attached container (host end of its veth, and the container end where its
 * namespace can be named). A container above the fan MTU sends packets the tunnel cannot carry: they are dropped or
 * need ICMP "fragmentation needed" to get back to the sender (only TCP is saved, by fan's MSS clamping).
 */
import { type Check, type Finding, combine, fail, ok, skip, warn } from '../check.js';
import { TUNNEL_DEVICE, VXLAN_OVERHEAD } from '../../backends/vxlan/backend.js';
import { fanMtu } from '../../backends/registry.js';
import { readBridgePorts } from '../../kernel/veth-peers.js';
import { carriesVxlan } from '../../backends/registry.js';

export interface MtuPort {
  readonly hostIf: string;
  readonly mtu: number;
  readonly peer?: { readonly netns: string; readonly ifname: string; readonly mtu: number };
}

export interface MtuFan {
  readonly bridge: string;
  readonly type: string;
  readonly underlayDevice: string;
  readonly underlayMtu: number;
  /** The MTU fan gives this fan's bridge, route and containers. */
  readonly expected: number;
  readonly bridgeMtu?: number;
  readonly routeMtu?: number;
  readonly ports: readonly MtuPort[];
}

export interface MtuObservation {
  readonly tunnelMtu?: number;
  readonly fans: readonly MtuFan[];
}

export const mtuCheck: Check<MtuObservation> = {
  id: 'mtu',
  title: 'MTU: underlay, tunnel, bridge, containers',
  async gather(ctx) {
    const ports = await readBridgePorts(
      ctx.runner,
      ctx.fans.map((f) => f.bridge),
    );
    const tunnel = ctx.current.links.find((l) => l.name === TUNNEL_DEVICE);
    return {
      ...(tunnel ? { tunnelMtu: tunnel.mtu } : {}),
      fans: ctx.fans.map((fan): MtuFan => {
        const bridge = ctx.current.links.find((l) => l.name === fan.bridge);
        const route = ctx.current.routes.find(
          (r) => r.dst.address === fan.map.overlay.address && r.dst.prefix === fan.map.overlay.prefix,
        );
        const underlay = ctx.facts.interfaces.find((i) => i.name === fan.device);
        return {
          bridge: fan.bridge,
          type: fan.type,
          underlayDevice: fan.device,
          underlayMtu: underlay?.mtu ?? fan.deviceMtu,
          expected: fanMtu(fan),
          ...(bridge ? { bridgeMtu: bridge.mtu } : {}),
          ...(route?.mtu !== undefined ? { routeMtu: route.mtu } : {}),
          ports: ports
            .filter((p) => p.bridge === fan.bridge)
            .map((p) => ({
              hostIf: p.hostIf,
              mtu: p.mtu,
              ...(p.peer ? { peer: { netns: p.peer.netns, ifname: p.peer.ifname, mtu: p.peer.mtu } } : {}),
            })),
        };
      }),
    };
  },
  judge(o) {
    if (o.fans.length === 0) return skip('no fan is up');
    const findings: Finding[] = [];
    const vxlan = o.fans.filter((f) => carriesVxlan(f));
    if (vxlan.length > 0 && o.tunnelMtu !== undefined) {
      const limit = Math.max(...vxlan.map((f) => f.underlayMtu)) - VXLAN_OVERHEAD;
      if (o.tunnelMtu > limit) {
        findings.push(
          fail(
            `${TUNNEL_DEVICE} has MTU ${o.tunnelMtu}, above underlay − ${VXLAN_OVERHEAD} = ${limit}: ` +
              `full-size packets become too big for the underlay once encapsulated`,
            `ip link set dev ${TUNNEL_DEVICE} mtu ${limit}`,
          ),
        );
      }
    }
    for (const f of o.fans) {
      const fixBridge = `ip link set dev ${f.bridge} mtu ${f.expected}`;
      if (f.bridgeMtu !== undefined && f.bridgeMtu > f.expected) {
        findings.push(
          fail(
            `${f.bridge} has MTU ${f.bridgeMtu}, above the fan MTU ${f.expected} ` +
              `(${f.underlayDevice} ${f.underlayMtu}${carriesVxlan(f) ? ` − ${VXLAN_OVERHEAD}` : ''})`,
            fixBridge,
          ),
        );
      } else if (f.bridgeMtu !== undefined && f.bridgeMtu < f.expected) {
        findings.push(
          warn(
            `${f.bridge} has MTU ${f.bridgeMtu}, below the fan MTU ${f.expected}: it works, with smaller packets`,
            fixBridge,
          ),
        );
      }
      if (f.routeMtu !== undefined && f.routeMtu > f.expected) {
        findings.push(
          fail(
            `the overlay route of ${f.bridge} carries MTU ${f.routeMtu}, above the fan MTU ${f.expected}`,
            'bring the fan up again (fanctl up) so the route gets the right MTU',
          ),
        );
      }
      for (const p of f.ports) {
        const containerMtu = Math.max(p.mtu, p.peer?.mtu ?? 0);
        const where = p.peer
          ? `${p.hostIf} (container end ${p.peer.ifname} in ${p.peer.netns}: ${p.peer.mtu})`
          : p.hostIf;
        if (containerMtu > f.expected) {
          findings.push(
            fail(
              `container port ${where} on ${f.bridge} has MTU ` +
                `${containerMtu} behind a fan MTU of ${f.expected}: ` +
                `its full-size packets cannot cross the ${carriesVxlan(f) ? 'tunnel' : 'underlay'} ` +
                `(UDP and ICMP are lost; only TCP is saved by MSS clamping)`,
              `set both ends of the veth to ${f.expected} (ip link set dev ${p.hostIf} mtu ${f.expected}; ` +
                `inside the container: ip link set dev ${p.peer?.ifname ?? 'eth0'} mtu ${f.expected}), ` +
                `or attach containers with fan's CNI/Docker drivers, which use the fan MTU`,
            ),
          );
        } else if (p.mtu < f.expected) {
          findings.push(
            warn(
              `container port ${where} on ${f.bridge} has MTU ${p.mtu}, below the fan MTU ${f.expected}`,
              `ip link set dev ${p.hostIf} mtu ${f.expected} (and the container end)`,
            ),
          );
        }
      }
    }
    const summary = o.fans
      .map(
        (f) =>
          `${f.bridge} ${f.bridgeMtu ?? '?'} (${f.underlayDevice} ` +
          `${f.underlayMtu}${carriesVxlan(f) ? `, ${TUNNEL_DEVICE} ${o.tunnelMtu ?? '?'}` : ''}), ` +
          `${f.ports.length} port(s) at ${f.expected}`,
      )
      .join('; ');
    return combine(findings, ok(summary));
  },
};

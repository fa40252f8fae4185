/**
 * Whether VXLAN (UDP 8472) gets from this host to a peer and back, probed for real: an ICMP echo from this host's
 * bridge address to the peer's bridge address, which can only travel encapsulated through fan's tunnel (the
 * egress program computes the peer from the address; the peer's ingress program checks the source maps to us).
 * An underlay ping to the same peer tells "the peer is down or unreachable" from "UDP 8472 is blocked".
 * Peers come from --peer; without it, from underlay neighbours seen in recent traffic (a failure there is a
 * warning: such a neighbour may be a router, not a fan host).
 */
import { type Ipv4, contains, formatIpv4, parseIpv4 } from '../../core/address/ipv4.js';
import { describeHost } from '../../core/mapping/fan.js';
import { VXLAN_PORT } from '../../backends/vxlan/backend.js';
import { type Check, type Finding, combine, fail, ok, skip, warn } from '../check.js';
import { carriesVxlan } from '../../backends/registry.js';

export interface TunnelProbe {
  readonly bridge: string;
  readonly from: string;
  readonly to: string;
  readonly ok: boolean;
}

export interface PeerProbe {
  readonly peer: string;
  /** `given`: --peer; `seen`: an underlay neighbour. */
  readonly origin: 'given' | 'seen';
  readonly underlayOk: boolean;
  readonly tunnel: readonly TunnelProbe[];
}

export interface VxlanPortObservation {
  readonly vxlanFans: number;
  readonly peers: readonly PeerProbe[];
}

const MAX_SEEN_PEERS = 4;

async function ping(run: (argv: string[]) => Promise<{ exitCode: number }>, args: string[]): Promise<boolean> {
  return (await run(['ping', '-n', '-q', '-c', '2', '-i', '0.2', '-W', '1', ...args])).exitCode === 0;
}

export const vxlanPortCheck: Check<VxlanPortObservation> = {
  id: 'vxlan-port',
  title: `VXLAN UDP ${VXLAN_PORT} between hosts`,
  async gather(ctx) {
    const vxlan = ctx.fans.filter((f) => carriesVxlan(f));
    const run = (argv: string[]): Promise<{ exitCode: number }> =>
      ctx.runner.run(argv, { allowFailure: true, timeoutMs: 10_000 });
    const peers: { peer: Ipv4; origin: 'given' | 'seen' }[] = ctx.peers.map((p) => ({
      peer: parseIpv4(p),
      origin: 'given' as const,
    }));
    if (peers.length === 0 && vxlan.length > 0) {
      const own = new Set(vxlan.map((f) => f.host.host));
      for (const dev of new Set(vxlan.map((f) => f.device))) {
        const out = await ctx.runner.run(['ip', '-json', '-4', 'neigh', 'show', 'dev', dev], { allowFailure: true });
        const entries = JSON.parse(out.stdout || '[]') as { dst?: string; state?: string[] }[];
        for (const e of entries) {
          if (e.dst === undefined || !(e.state ?? []).some((s) => ['REACHABLE', 'STALE', 'DELAY', 'PROBE'].includes(s)))
            continue;
          const address = parseIpv4(e.dst);
          if (own.has(address) || !vxlan.some((f) => contains(f.map.underlay, address))) continue;
          if (!peers.some((p) => p.peer === address) && peers.length < MAX_SEEN_PEERS)
            peers.push({ peer: address, origin: 'seen' });
        }
      }
    }
    const probes: PeerProbe[] = [];
    for (const { peer, origin } of peers) {
      const tunnel: TunnelProbe[] = [];
      for (const fan of vxlan.filter((f) => contains(f.map.underlay, peer) && f.host.host !== peer)) {
        const to = formatIpv4(describeHost(fan.map, peer).gateway);
        const from = formatIpv4(fan.host.gateway);
        tunnel.push({ bridge: fan.bridge, from, to, ok: await ping(run, ['-I', from, to]) });
      }
      probes.push({ peer: formatIpv4(peer), origin, underlayOk: await ping(run, [formatIpv4(peer)]), tunnel });
    }
    return { vxlanFans: vxlan.length, peers: probes };
  },
  judge(o) {
    if (o.vxlanFans === 0) return skip('no vxlan fan is up');
    if (o.peers.length === 0)
      return skip('no peer to probe: give one with --peer ADDRESS (no underlay neighbour seen recently)');
    const findings = o.peers.map((p): Finding => {
      const bad = (seen: string, fix: string): Finding =>
        p.origin === 'given' ? fail(seen, fix) : warn(`${seen} (peer seen on the underlay, maybe not a fan host)`, fix);
      if (p.tunnel.length === 0)
        return bad(`${p.peer} is in no vxlan fan's underlay`, 'give the underlay address of a host on the same fan');
      const broken = p.tunnel.filter((t) => !t.ok);
      if (broken.length === 0)
        return ok(`${p.peer}: ${p.tunnel.map((t) => `${t.from} → ${t.to}`).join(', ')} answered through the tunnel`);
      const pairs = broken.map((t) => `${t.from} → ${t.to} (${t.bridge})`).join(', ');
      if (p.underlayOk) {
        return bad(
          `${p.peer} answers on the underlay, but not through the tunnel: ${pairs}. ` +
            `UDP ${VXLAN_PORT} is blocked on the way or on ${p.peer}, or the fan is not up there`,
          `allow UDP ${VXLAN_PORT} between the hosts (on ${p.peer}: nft/iptables input, ` +
            `cloud security groups), and check fanctl doctor on ${p.peer}`,
        );
      }
      return bad(
        `${p.peer} answers neither on the underlay nor through the tunnel (${pairs})`,
        `check that ${p.peer} is up and reachable on the underlay (ping ${p.peer})`,
      );
    });
    return combine(findings, skip('no peer'));
  },
};

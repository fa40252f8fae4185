/**
 * Kernel objects counted from a host's listings, and the reference approach's per-peer state as `ip -batch` and
 * `bridge -batch` input (what flannel's vxlan backend keeps for every other node: a route to the peer's subnet
 * through a nexthop object, a neighbour entry for the peer's VTEP address and an fdb entry for its MAC). Pure.
 */
import { type Ipv4, formatIpv4, u32 } from '../../core/address/ipv4.js';

export interface Listings {
  readonly links: string;
  readonly addresses: string;
  readonly routes: string;
  readonly neighbours: string;
  readonly fdb: string;
  readonly nexthops: string;
  /** `nft -a list ruleset`: tables, chains, sets and rules each carry a handle. */
  readonly nft: string;
  /** `bpftool -j net show`. */
  readonly tc: string;
  readonly iptables: string;
}

const lines = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '');

export function countObjects(l: Listings): number {
  let tc = 0;
  try {
    const net = JSON.parse(l.tc.trim() || '[]') as { tc?: unknown[] }[];
    tc = net.reduce((sum, e) => sum + (e.tc?.length ?? 0), 0);
  } catch {
    tc = 0;
  }
  return (
    lines(l.links).length +
    lines(l.addresses).length +
    lines(l.routes).filter((r) => !/^\s/.test(r)).length +
    lines(l.neighbours).length +
    lines(l.fdb).length +
    lines(l.nexthops).length +
    lines(l.nft).filter((r) => /# handle \d+$/.test(r)).length +
    tc +
    lines(l.iptables).filter((r) => /^-[AN] /.test(r)).length
  );
}

export const REFERENCE_DEVICE = 'refcp';

/** The VTEP MAC of a peer, from its underlay address (unicast, locally administered). */
export const vtepMac = (underlay: Ipv4): string =>
  ['0e', 'fb', ...[24, 16, 8, 0].map((s) => ((underlay >>> s) & 255).toString(16).padStart(2, '0'))].join(':');

/** The peer subnet of the k-th peer: 10.(k / 256).(k % 256).0/24 (10.255.255.0 is this host's). */
const peerGateway = (k: number): string => `10.${(k >> 8) & 255}.${k & 255}.0`;

/**
 * Every other host of the underlay (`self` inside a /`prefix` network) as a peer: the commands that create the
 * reference's VXLAN device and its per-peer state. 4 objects per peer.
 */
export function referencePeerBatches(
  self: Ipv4,
  prefix: number,
  underlayMtu: number,
): { device: string; peers: number; ip: string; bridge: string } {
  const size = 2 ** (32 - prefix);
  const base = prefix === 0 ? 0 : u32(self & (0xffffffff << (32 - prefix)));
  const dev = REFERENCE_DEVICE;
  const ip = [
    `link add ${dev} mtu ${underlayMtu - 50} type vxlan id 1 dstport 4789 local ${formatIpv4(self)} nolearning`,
    `address add 10.255.255.0/32 dev ${dev}`,
    `link set ${dev} up`,
  ];
  const bridge: string[] = [];
  let k = 0;
  for (let i = 1; i < size - 1; i++) {
    const peer = u32(base + i);
    if (peer === self) continue;
    const gw = peerGateway(k);
    const mac = vtepMac(peer);
    ip.push(
      `nexthop add id ${k + 1} via ${gw} dev ${dev} onlink`,
      `route add ${gw}/24 nhid ${k + 1}`,
      `neigh add ${gw} lladdr ${mac} dev ${dev} nud permanent`,
    );
    bridge.push(`fdb add ${mac} dev ${dev} dst ${formatIpv4(peer)} self permanent`);
    k++;
  }
  return { device: dev, peers: k, ip: `${ip.join('\n')}\n`, bridge: `${bridge.join('\n')}\n` };
}

/** The children's user and system time from the shell's `times` (its last line, `0m0.29s 0m0.05s`), in ms. */
export function childCpuMs(stderr: string): number {
  const last = stderr.trim().split('\n').at(-1) ?? '';
  const m = /^(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s$/.exec(last.trim());
  if (!m) return 0;
  return Math.round((Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000);
}

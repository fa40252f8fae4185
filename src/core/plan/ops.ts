/** The operations fan applies to a host. Plain data: rendered to commands by src/codec, run by src/kernel. */
import { type Cidr, formatCidr as fmt } from '../address/ipv4.js';
import type { BridgeSpec, DhcpSpec, NatSpec, OverlayEntry, RouteSpec, TunnelSpec } from '../model/host-state.js';

export type Op =
  | { readonly kind: 'bridge-add'; readonly bridge: BridgeSpec }
  | { readonly kind: 'tunnel-add'; readonly tunnel: TunnelSpec }
  | { readonly kind: 'link-mtu'; readonly name: string; readonly mtu: number }
  | { readonly kind: 'link-up'; readonly name: string }
  | { readonly kind: 'link-del'; readonly name: string }
  | { readonly kind: 'addr-add'; readonly dev: string; readonly cidr: Cidr }
  | { readonly kind: 'addr-del'; readonly dev: string; readonly cidr: Cidr }
  | { readonly kind: 'tc-attach'; readonly dev: string }
  | { readonly kind: 'overlay-table'; readonly dev: string; readonly overlays: readonly OverlayEntry[] }
  | { readonly kind: 'hostgw-attach'; readonly dev: string }
  | { readonly kind: 'hostgw-detach'; readonly dev: string }
  | { readonly kind: 'placeholder-neigh'; readonly dev: string; readonly mac: string }
  | { readonly kind: 'placeholder-neigh-del'; readonly dev: string }
  | { readonly kind: 'route-replace'; readonly route: RouteSpec }
  | { readonly kind: 'route-del'; readonly route: RouteSpec }
  | { readonly kind: 'nft-replace'; readonly nat: NatSpec }
  | { readonly kind: 'nft-delete' }
  | { readonly kind: 'forward-accept-add'; readonly bridge: string; readonly from: string; readonly chain: 'FORWARD' | 'DOCKER-USER' }
  | { readonly kind: 'forward-accept-del'; readonly bridge: string }
  | { readonly kind: 'dhcp-start'; readonly dhcp: DhcpSpec }
  | { readonly kind: 'dhcp-stop'; readonly bridge: string; readonly pid: number }
  | { readonly kind: 'ip-forward' };

export function describeOp(op: Op): string {
  switch (op.kind) {
    case 'bridge-add': return `create bridge ${op.bridge.name} (mtu ${op.bridge.mtu})`;
    case 'tunnel-add': return `create vxlan ${op.tunnel.name} (external, port ${op.tunnel.port}, mtu ${op.tunnel.mtu})`;
    case 'link-mtu': return `set mtu ${op.mtu} on ${op.name}`;
    case 'link-up': return `bring ${op.name} up`;
    case 'link-del': return `delete ${op.name}`;
    case 'addr-add': return `add ${fmt(op.cidr)} to ${op.dev}`;
    case 'addr-del': return `remove ${fmt(op.cidr)} from ${op.dev}`;
    case 'tc-attach': return `attach eBPF programs to ${op.dev} (tc clsact ingress+egress)`;
    case 'overlay-table': return `write ${op.overlays.length} overlay(s) into the eBPF table of ${op.dev}`;
    case 'hostgw-attach': return `attach the host-gw eBPF program to ${op.dev} (tc clsact egress)`;
    case 'hostgw-detach': return `remove fan's host-gw eBPF program from ${op.dev}`;
    case 'placeholder-neigh': return `placeholder neighbour 169.254.250.1 → ${op.mac} on ${op.dev}`;
    case 'placeholder-neigh-del': return `remove the placeholder neighbour on ${op.dev}`;
    case 'route-replace': return `route ${fmt(op.route.dst)} via ${op.route.dev}`;
    case 'route-del': return `remove route ${fmt(op.route.dst)}`;
    case 'nft-replace': return `load nftables table fan (NAT for ${op.nat.slices.map(fmt).join(', ')})`;
    case 'nft-delete': return 'delete nftables table fan';
    case 'forward-accept-add': return `accept forwarding for ${op.bridge} in iptables ${op.chain}`;
    case 'forward-accept-del': return `remove fan's FORWARD rules for ${op.bridge}`;
    case 'dhcp-start': return `start dnsmasq on ${op.dhcp.bridge}`;
    case 'dhcp-stop': return `stop dnsmasq on ${op.bridge} (pid ${op.pid})`;
    case 'ip-forward': return 'enable net.ipv4.ip_forward';
  }
}


/**
 * The operations fan applies to a host, one kernel object each. Plain data: src/codec/ops renders each into the
 * commands that apply it and the commands that undo it, and src/kernel runs them. An operation that removes or
 * changes something carries what was there before, so its undo restores exactly that.
 */
import { type Cidr, formatCidr as fmt, formatIpv4 } from '../address/ipv4.js';
import type {
  DhcpSpec,
  ForwardRuleState,
  LinkSpec,
  NatSpec,
  OverlayEntry,
  ProgramSpec,
  RouteSpec,
} from '../model/host-state.js';

/** Who owns the clsact qdisc: fan's own device (the tunnel), or a device of the host's that fan shares. */
export type QdiscOwner = 'own' | 'shared';

export type Op =
  | { readonly kind: 'sysctl'; readonly key: string; readonly value: string; readonly was: string }
  | { readonly kind: 'link-add'; readonly link: LinkSpec }
  | {
      readonly kind: 'link-del';
      readonly link: LinkSpec;
      /** What the link had, so a rollback rebuilds it as it was. */
      readonly addresses: readonly Cidr[];
      readonly ports: readonly string[];
      readonly up: boolean;
    }
  | { readonly kind: 'link-alias'; readonly name: string; readonly alias: string; readonly was?: string }
  | { readonly kind: 'link-mtu'; readonly name: string; readonly mtu: number; readonly was: number }
  | { readonly kind: 'link-up'; readonly name: string }
  | { readonly kind: 'addr-add'; readonly dev: string; readonly cidr: Cidr }
  | { readonly kind: 'addr-del'; readonly dev: string; readonly cidr: Cidr }
  | {
      readonly kind: 'tc-attach';
      readonly dev: string;
      readonly programs: readonly ProgramSpec[];
      readonly qdisc: QdiscOwner;
      /** The shared block the ingress programs go into (only on a device whose qdisc is fan's). */
      readonly block?: number;
    }
  | {
      readonly kind: 'tc-detach';
      readonly dev: string;
      readonly programs: readonly ProgramSpec[];
      readonly qdisc: QdiscOwner;
      /** The shared block the ingress programs sit in. */
      readonly block?: number;
      /** The table the programs held, written back when a rollback re-attaches them. */
      readonly overlays?: readonly OverlayEntry[];
      /** Only these programs go: fan's others stay on the device, and so does its clsact qdisc. */
      readonly keepQdisc?: true;
    }
  | {
      readonly kind: 'overlay-table';
      readonly dev: string;
      readonly overlays: readonly OverlayEntry[];
      readonly was?: readonly OverlayEntry[];
    }
  | {
      readonly kind: 'neigh-replace';
      readonly dev: string;
      readonly address: number;
      readonly mac: string;
      readonly was?: string;
    }
  | { readonly kind: 'neigh-del'; readonly dev: string; readonly address: number; readonly mac: string }
  | { readonly kind: 'route-replace'; readonly route: RouteSpec; readonly was?: RouteSpec }
  | { readonly kind: 'route-del'; readonly route: RouteSpec }
  | { readonly kind: 'nft-replace'; readonly nat: NatSpec; readonly was?: string }
  | { readonly kind: 'nft-delete'; readonly was: string }
  | {
      readonly kind: 'forward-accept-add';
      readonly bridge: string;
      readonly from: string;
      readonly chain: 'FORWARD' | 'DOCKER-USER';
    }
  | { readonly kind: 'forward-accept-del'; readonly bridge: string; readonly rules: readonly ForwardRuleState[] }
  | { readonly kind: 'dhcp-start'; readonly dhcp: DhcpSpec }
  | {
      readonly kind: 'dhcp-stop';
      readonly bridge: string;
      readonly pid: number;
      /** What it ran with, so a rollback can start it again (unknown for records of older versions). */
      readonly spec?: DhcpSpec;
      /** The fan leaves: its lease file goes too. */
      readonly forget: boolean;
    }
  // Containers' host veths (src/core/plan/ports.ts): put back on their bridge, or removed by `down --force`.
  | { readonly kind: 'port-attach'; readonly dev: string; readonly bridge: string }
  | { readonly kind: 'port-del'; readonly dev: string; readonly bridge: string };

export type OpKind = Op['kind'];

/** One line per operation, as `fanctl up` prints what it changes. */
export function describeOp(op: Op): string {
  switch (op.kind) {
    case 'sysctl':
      return `set ${op.key} = ${op.value}`;
    case 'link-add':
      return op.link.type === 'bridge'
        ? `create bridge ${op.link.name} (mtu ${op.link.mtu})`
        : `create vxlan ${op.link.name} (external, port ${op.link.port}, mtu ${op.link.mtu})`;
    case 'link-del':
      return `delete ${op.link.name}`;
    case 'link-alias':
      return `mark ${op.name} as fan's (alias "${op.alias}")`;
    case 'link-mtu':
      return `set mtu ${op.mtu} on ${op.name}`;
    case 'link-up':
      return `bring ${op.name} up`;
    case 'addr-add':
      return `add ${fmt(op.cidr)} to ${op.dev}`;
    case 'addr-del':
      return `remove ${fmt(op.cidr)} from ${op.dev}`;
    case 'tc-attach':
      return `attach eBPF programs to ${op.dev} (tc clsact ${op.programs.map((p) => p.direction).join('+')})`;
    case 'tc-detach':
      return `remove fan's eBPF programs from ${op.dev}${
        op.keepQdisc ? ` (tc clsact ${op.programs.map((p) => p.direction).join('+')})` : ''
      }`;
    case 'overlay-table':
      return `write ${op.overlays.length} overlay(s) into the eBPF table of ${op.dev}`;
    case 'neigh-replace':
      return `placeholder neighbour ${formatIpv4(op.address)} → ${op.mac} on ${op.dev}`;
    case 'neigh-del':
      return `remove the placeholder neighbour on ${op.dev}`;
    case 'route-replace':
      return `route ${fmt(op.route.dst)} via ${op.route.dev}`;
    case 'route-del':
      return `remove route ${fmt(op.route.dst)}`;
    case 'nft-replace':
      return `load nftables table fan (NAT for ${op.nat.slices.map(fmt).join(', ')})`;
    case 'nft-delete':
      return 'delete nftables table fan';
    case 'forward-accept-add':
      return `accept forwarding for ${op.bridge} in iptables ${op.chain}`;
    case 'forward-accept-del':
      return `remove fan's FORWARD rules for ${op.bridge}`;
    case 'dhcp-start':
      return `start dnsmasq on ${op.dhcp.bridge}`;
    case 'dhcp-stop':
      return `stop dnsmasq on ${op.bridge} (pid ${op.pid})`;
    case 'port-attach':
      return `put container veth ${op.dev} back on ${op.bridge}`;
    case 'port-del':
      return `detach container veth ${op.dev} from ${op.bridge} (delete it)`;
  }
}

/**
 * The fan-owned part of a host, as data. `DesiredHost` is computed from the fans (src/core/plan); `CurrentHost` is
 * read back from the kernel (src/kernel). Diffing the two gives the operations to apply (src/core/plan/diff.ts).
 */
import type { Cidr, Ipv4 } from '../address/ipv4.js';
import type { InterfaceFacts } from './host-facts.js';

/** Marks every link fan creates (`ip link set … alias`); fan only ever deletes links carrying it. */
export const FAN_ALIAS_PREFIX = 'fan:';
/**
 * Device group of every link fan creates, set in the same `ip link add` call (the alias needs a second call): a link
 * left by a run that crashed between the two is still recognised as fan's.
 */
export const FAN_LINK_GROUP = '250';
/** Routing protocol number fan's routes carry (`ip route … proto 250`); fan only deletes routes with it. */
export const FAN_ROUTE_PROTO = 250;
/** The nftables table fan owns. */
export const FAN_NFT_TABLE = 'fan';
/** Comment on the ACCEPT rules fan keeps in iptables (FORWARD, or DOCKER-USER) for its bridges. */
export const FAN_IPTABLES_COMMENT = 'fan';
/** Link-local next hop for the overlay route: one NOARP neighbour entry in total, not one per destination. */
export const FAN_ONLINK_GATEWAY = 0xa9fefa01; // 169.254.250.1
/** Rows of the eBPF overlay table (FAN_MAX_OVERLAYS in bpf/fan.bpf.c): the overlays one program can map. */
export const MAX_OVERLAYS = 16;
/** tc filter preference of fan's eBPF programs, on its tunnel and (host-gw) on underlay devices. */
export const FAN_TC_PREF = 250;

/** A link fan creates: a bridge, or the collect-metadata VXLAN tunnel. */
export type LinkSpec =
  | {
      readonly type: 'bridge';
      readonly name: string;
      readonly mtu: number;
      readonly alias: string;
      /** Given when a rollback rebuilds a bridge: containers keep the gateway MAC they resolved. */
      readonly mac?: string;
    }
  | {
      readonly type: 'vxlan';
      readonly name: string;
      readonly mtu: number;
      readonly alias: string;
      readonly mac: string;
      readonly port: number;
    };

export interface BridgeSpec {
  readonly name: string;
  readonly mtu: number;
  /** Set when fan creates the bridge (an existing bridge keeps its own). */
  readonly mac: string;
  /** slice+1 … slice+host-reserve, each with the slice prefix. */
  readonly addresses: readonly Cidr[];
  readonly alias: string;
}

/** A tc program fan attaches: its direction and the section of the eBPF object it comes from. */
export interface ProgramSpec {
  readonly direction: 'ingress' | 'egress';
  readonly section: string;
}

/**
 * A device a data-plane backend puts fan's eBPF programs on, with the overlay table they read. `link` is set when
 * fan creates the device (the tunnel); without it the device is the host's own (an underlay device under host-gw),
 * where fan shares the clsact qdisc and only removes what it added.
 */
export interface DataplaneDevice {
  readonly backend: string;
  readonly dev: string;
  readonly link?: LinkSpec;
  readonly programs: readonly ProgramSpec[];
  /**
   * The tc shared block its ingress programs go into (a fast path's bridge): the container ports on the bridge join
   * it, so one program instance, with one set of maps, runs on the bridge and on every port.
   */
  readonly block?: number;
  /** In table order: first match wins. */
  readonly overlays: readonly OverlayEntry[];
  /** A permanent neighbour fan keeps on the device (host-gw's placeholder next hop). */
  readonly neighbour?: { readonly address: Ipv4; readonly mac: string };
}

/** One row of the eBPF overlay table (struct fan_overlay in bpf/fan.bpf.c). */
export interface OverlayEntry {
  readonly overlay: Ipv4;
  readonly overlayMask: Ipv4;
  readonly underlay: Ipv4;
  readonly underlayMask: Ipv4;
  readonly shift: number;
  readonly vni: number;
  readonly local: Ipv4;
}

export interface RouteSpec {
  readonly dst: Cidr;
  readonly dev: string;
  readonly via?: Ipv4;
  /** Source for host-originated packets: the bridge address, so peers' anti-spoofing accepts them. */
  readonly src?: Ipv4;
  readonly mtu?: number;
}

export interface NatSpec {
  /** Container slices whose traffic leaves the overlay masqueraded. */
  readonly slices: readonly Cidr[];
  readonly overlays: readonly Cidr[];
  readonly bridges: readonly string[];
  readonly tunnel?: string;
  /** UDP port of fan's tunnel: never accepted from a fan bridge (only the underlay carries tunnel packets). */
  readonly tunnelPort?: number;
}

export interface DhcpSpec {
  readonly bridge: string;
  readonly rangeStart: Ipv4;
  readonly rangeEnd: Ipv4;
  readonly netmask: Ipv4;
  readonly gateway: Ipv4;
  readonly mtu: number;
  readonly leaseFile: string;
  readonly pidFile: string;
}

export interface ForwardAcceptSpec {
  readonly bridge: string;
  readonly from: string;
}

export interface DesiredHost {
  readonly bridges: readonly BridgeSpec[];
  /** What the data-plane backends need (src/backends): devices, their programs and tables. */
  readonly devices: readonly DataplaneDevice[];
  readonly routes: readonly RouteSpec[];
  /** Absent when no fan is up: the table is removed. */
  readonly nat?: NatSpec;
  /** Bridges to accept in iptables' FORWARD (or DOCKER-USER) chain, so a DROP policy cannot cut them, with the device
   * their overlay traffic arrives on from other hosts. */
  readonly forwardAccept: readonly ForwardAcceptSpec[];
  readonly dhcp: readonly DhcpSpec[];
}

/** A link as read back from the kernel: the same facts the planner reads. */
export type LinkState = InterfaceFacts;

export interface TcProgramState {
  readonly dev: string;
  readonly direction: 'ingress' | 'egress';
  readonly progId: number;
  /** The program's function name (fan_egress, …). */
  readonly name?: string;
  /** The object section it was loaded from (tc/egress, …), when the kernel reports it. */
  readonly section?: string;
  /** Its overlay table as read back, when the program has one. */
  readonly overlays?: readonly OverlayEntry[];
  /** The tc shared block it sits in, when the device's clsact ingress is bound to one. */
  readonly block?: number;
}

/** A permanent neighbour entry for FAN_ONLINK_GATEWAY outside the tunnel (host-gw's placeholder). */
export interface NeighbourState {
  readonly dev: string;
  readonly address: Ipv4;
  readonly mac: string;
}

/** One of fan's iptables rules (comment `fan BRIDGE`), as `iptables -S` prints it without the leading `-A`. */
export interface ForwardRuleState {
  readonly chain: 'FORWARD' | 'DOCKER-USER';
  readonly bridge: string;
  readonly words: readonly string[];
}

export interface RouteState extends RouteSpec {
  readonly proto?: string;
}

export interface HostGwState {
  readonly dev: string;
  readonly attached: boolean;
  readonly overlays?: readonly OverlayEntry[];
  /** MAC of the placeholder neighbour on this device, when present. */
  readonly neighbourMac?: string;
}

export interface DhcpState {
  readonly bridge: string;
  readonly pid: number;
  /** dhcpKey() of the spec it was started with. */
  readonly key: string;
  /** The spec it was started with (absent in records written by older versions). */
  readonly spec?: DhcpSpec;
}

export interface CurrentHost {
  readonly links: readonly LinkState[];
  /** Only routes carrying FAN_ROUTE_PROTO. */
  readonly routes: readonly RouteState[];
  /** fan's tc programs on every device, with the tables they read. */
  readonly tcPrograms: readonly TcProgramState[];
  /** Permanent neighbours for FAN_ONLINK_GATEWAY outside the tunnel. */
  readonly neighbours?: readonly NeighbourState[];
  /** The listing of fan's nftables table (`nft list table ip fan`), when present: restores it on rollback. */
  readonly nftText?: string;
  /** fan's iptables rules, one by one: removes and restores them exactly. */
  readonly forwardRules?: readonly ForwardRuleState[];
  /** The overlay table read back from the egress program's map, when attached. */
  readonly overlayTable?: readonly OverlayEntry[];
  /** fan's host-gw programs and placeholder neighbours on underlay devices. */
  readonly hostGw: readonly HostGwState[];
  /** Content key of fan's nftables table (kept in its comment), or undefined when the table is absent. */
  readonly nftKey?: string;
  /** A table named like fan's exists without fan's comment: someone else's, never to be replaced. */
  readonly nftForeign?: boolean;
  /** fan's ACCEPT rules in iptables (FORWARD or DOCKER-USER), per bridge with the device they accept from. */
  readonly forwardAccept: readonly ForwardAcceptSpec[];
  /**
   * True when iptables works here. fan then keeps its ACCEPT rules there whatever the FORWARD policy is now, so a
   * DROP policy set later (Docker sets one when it starts) does not cut fan traffic.
   */
  readonly iptables: boolean;
  /** Where new ACCEPT rules go: DOCKER-USER when Docker made it, FORWARD otherwise. */
  readonly forwardChain?: 'FORWARD' | 'DOCKER-USER';
  /** dnsmasq processes fan started that are alive. */
  readonly dhcp: readonly DhcpState[];
  readonly ipForward: boolean;
}

/** fan's links carry its alias, or at least its device group (a run that died before setting the alias). */
export function isFanOwned(link: { readonly alias?: string; readonly group?: string }): boolean {
  return (link.alias?.startsWith(FAN_ALIAS_PREFIX) ?? false) || link.group === FAN_LINK_GROUP;
}

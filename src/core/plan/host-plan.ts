/**
 * "What the host should look like" for a set of fans. Pure. Routed Fan (the original design): each bridge holds
 * slice+1 … slice+host-reserve with the slice prefix, containers route via slice+1, and the host sends each
 * overlay through ONE route: into the ONE tunnel device (vxlan), or onto the underlay device (host-gw, no
 * encapsulation, hosts on one L2 segment). An eBPF program computes each packet's underlay host with the Fan
 * formula, so nothing here grows with the number of hosts.
 */
import { type Cidr, formatCidr, mask, u32 } from '../address/ipv4.js';
import type { Fan } from '../config/resolve.js';
import { shiftOf } from '../mapping/fan.js';
import { sliceLayout } from '../mapping/layout.js';
import { ConfigError } from '../errors.js';
import {
  type DesiredHost,
  type TunnelSpec,
  type DhcpSpec,
  type OverlayEntry,
  FAN_ALIAS_PREFIX,
  FAN_ONLINK_GATEWAY,
  MAX_OVERLAYS,
  TUNNEL_DEVICE,
  TUNNEL_MAC,
  VXLAN_OVERHEAD,
  VXLAN_PORT,
} from '../model/host-state.js';

export interface PlanOptions {
  /** Where lease and pid files live (per network namespace in the lab). */
  readonly stateDir: string;
}

/** Bridge and container MTU: the underlay's, less the encapsulation (none for host-gw). */
export function fanMtu(fan: Fan): number {
  return fan.deviceMtu - (fan.type === 'vxlan' ? VXLAN_OVERHEAD : 0);
}

export function overlayEntry(fan: Fan): OverlayEntry {
  return {
    overlay: fan.map.overlay.address,
    overlayMask: mask(fan.map.overlay.prefix),
    underlay: fan.map.underlay.address,
    underlayMask: mask(fan.map.underlay.prefix),
    shift: shiftOf(fan.map),
    vni: fan.host.vni,
    local: fan.host.host,
  };
}

/** Addresses the host keeps: slice+1 … slice+hostReserve, with the slice prefix. */
export function bridgeAddresses(fan: Fan): Cidr[] {
  return Array.from({ length: fan.hostReserve }, (_, i) => ({ address: u32(fan.host.slice.address + 1 + i), prefix: fan.host.slice.prefix }));
}

/** First address containers may use: right after the host reserve. */
export function firstContainerAddress(fan: Fan): number {
  return u32(fan.host.slice.address + 1 + fan.hostReserve);
}

export function dhcpSpec(fan: Fan, options: PlanOptions): DhcpSpec {
  // The DHCP share of the slice (the rest is the IPAM's): src/core/mapping/layout.ts.
  const range = sliceLayout(fan).dhcp ?? { start: firstContainerAddress(fan), end: fan.host.lastUsable };
  return {
    bridge: fan.bridge,
    rangeStart: range.start,
    rangeEnd: range.end,
    netmask: mask(fan.host.slice.prefix),
    gateway: fan.host.gateway,
    mtu: fanMtu(fan),
    leaseFile: `${options.stateDir}/${fan.bridge}.leases`,
    pidFile: `${options.stateDir}/${fan.bridge}.dnsmasq.pid`,
  };
}

export function planHost(fans: readonly Fan[], options: PlanOptions): DesiredHost {
  const vxlan = fans.filter((f) => f.type === 'vxlan');
  const hostGw = fans.filter((f) => f.type === 'host-gw');
  const hostGwDevices = [...new Set(hostGw.map((f) => f.device))];
  const tooMany = (count: number, where: string): void => {
    if (count > MAX_OVERLAYS) {
      throw new ConfigError(`${count} fans on ${where}, but one eBPF table maps at most ${MAX_OVERLAYS} overlays`, 'take some fans down, or give them a wider overlay each');
    }
  };
  tooMany(vxlan.length, TUNNEL_DEVICE);
  for (const dev of hostGwDevices) tooMany(hostGw.filter((f) => f.device === dev).length, dev);
  const tunnel: TunnelSpec | undefined =
    vxlan.length === 0
      ? undefined
      : {
          name: TUNNEL_DEVICE,
          port: VXLAN_PORT,
          mtu: Math.max(...vxlan.map(fanMtu)),
          mac: TUNNEL_MAC,
          alias: `${FAN_ALIAS_PREFIX} vxlan tunnel (eBPF-computed destinations)`,
          overlays: vxlan.map(overlayEntry),
        };
  const peerDevice = (fan: Fan): string => (fan.type === 'vxlan' ? TUNNEL_DEVICE : fan.device);
  return {
    bridges: fans.map((fan) => ({
      name: fan.bridge,
      mtu: fanMtu(fan),
      addresses: bridgeAddresses(fan),
      alias: `${FAN_ALIAS_PREFIX} bridge of fan ${formatCidr(fan.map.overlay)} over ${formatCidr(fan.map.underlay)}`,
    })),
    ...(tunnel ? { tunnel } : {}),
    hostGw: hostGwDevices.map((dev) => {
      const onDev = hostGw.filter((f) => f.device === dev);
      const mac = onDev[0]?.deviceMac;
      if (mac === undefined) throw new ConfigError(`underlay device ${dev} has no MAC address`, 'host-gw needs an Ethernet underlay; use --type vxlan');
      return { dev, mac, overlays: onDev.map(overlayEntry) };
    }),
    routes: fans.map((fan) => ({ dst: fan.map.overlay, dev: peerDevice(fan), via: FAN_ONLINK_GATEWAY, src: fan.host.gateway, mtu: fanMtu(fan) })),
    ...(fans.length === 0
      ? {}
      : {
          nat: {
            slices: fans.map((f) => f.host.slice),
            overlays: fans.map((f) => f.map.overlay),
            bridges: fans.map((f) => f.bridge),
            ...(tunnel ? { tunnel: tunnel.name } : {}),
          },
        }),
    forwardAccept: fans.map((f) => ({ bridge: f.bridge, from: peerDevice(f) })),
    dhcp: fans.filter((f) => f.dhcp).map((f) => dhcpSpec(f, options)),
  };
}

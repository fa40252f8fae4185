/**
 * "What the host should look like" for a set of fans. Pure. Routed Fan (the original design): each bridge holds
 * slice+1 … slice+host-reserve with the slice prefix, containers route via slice+1, and the host sends the whole
 * overlay into ONE tunnel device through ONE route per overlay; the eBPF program on the tunnel computes the
 * underlay destination per packet, so nothing here grows with the number of hosts.
 */
import { type Cidr, formatCidr, mask, u32 } from '../address/ipv4.js';
import type { Fan } from '../config/resolve.js';
import { shiftOf } from '../mapping/fan.js';
import {
  type DesiredHost,
  type DhcpSpec,
  type OverlayEntry,
  FAN_ALIAS_PREFIX,
  FAN_ONLINK_GATEWAY,
  TUNNEL_DEVICE,
  TUNNEL_MAC,
  VXLAN_OVERHEAD,
  VXLAN_PORT,
} from '../model/host-state.js';

export interface PlanOptions {
  /** Where lease and pid files live (per network namespace in the lab). */
  readonly stateDir: string;
}

export function fanMtu(fan: Fan): number {
  return fan.deviceMtu - VXLAN_OVERHEAD;
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
  return {
    bridge: fan.bridge,
    rangeStart: firstContainerAddress(fan),
    rangeEnd: fan.host.lastUsable,
    netmask: mask(fan.host.slice.prefix),
    gateway: fan.host.gateway,
    mtu: fanMtu(fan),
    leaseFile: `${options.stateDir}/${fan.bridge}.leases`,
    pidFile: `${options.stateDir}/${fan.bridge}.dnsmasq.pid`,
  };
}

export function planHost(fans: readonly Fan[], options: PlanOptions): DesiredHost {
  if (fans.length === 0) return { bridges: [], routes: [], forwardAccept: [], dhcp: [] };
  const mtus = fans.map(fanMtu);
  return {
    bridges: fans.map((fan) => ({
      name: fan.bridge,
      mtu: fanMtu(fan),
      addresses: bridgeAddresses(fan),
      alias: `${FAN_ALIAS_PREFIX} bridge of fan ${formatCidr(fan.map.overlay)} over ${formatCidr(fan.map.underlay)}`,
    })),
    tunnel: {
      name: TUNNEL_DEVICE,
      port: VXLAN_PORT,
      mtu: Math.max(...mtus),
      mac: TUNNEL_MAC,
      alias: `${FAN_ALIAS_PREFIX} vxlan tunnel (eBPF-computed destinations)`,
      overlays: fans.map(overlayEntry),
    },
    routes: fans.map((fan) => ({ dst: fan.map.overlay, dev: TUNNEL_DEVICE, via: FAN_ONLINK_GATEWAY, src: fan.host.gateway, mtu: fanMtu(fan) })),
    nat: {
      slices: fans.map((f) => f.host.slice),
      overlays: fans.map((f) => f.map.overlay),
      bridges: fans.map((f) => f.bridge),
      tunnel: TUNNEL_DEVICE,
    },
    forwardAccept: fans.map((f) => f.bridge),
    dhcp: fans.filter((f) => f.dhcp).map((f) => dhcpSpec(f, options)),
  };
}


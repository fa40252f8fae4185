/**
 * "What the host should look like" for a set of fans. Pure. Routed Fan (the original design): each bridge holds
 * slice+1 … slice+host-reserve with the slice prefix, containers route via slice+1, and the host sends each
 * overlay through ONE route into the device its data-plane backend names (src/backends), whose eBPF programs
 * compute each packet's underlay host with the Fan formula, so nothing here grows with the number of hosts.
 */
import { type Cidr, formatCidr, mask, u32 } from '../address/ipv4.js';
import type { Fan } from '../config/resolve.js';
import { sliceLayout } from '../mapping/layout.js';
import { ConfigError } from '../errors.js';
import { bridgeMac } from '../bind/binding.js';
import { ALL_BACKENDS, backendOf, fanMtu } from '../../backends/registry.js';
import {
  type DataplaneDevice,
  type DesiredHost,
  type DhcpSpec,
  FAN_ALIAS_PREFIX,
  FAN_ONLINK_GATEWAY,
  MAX_OVERLAYS,
} from '../model/host-state.js';

export { fanMtu };

export interface PlanOptions {
  /** Where lease and pid files live (per network namespace in the lab). */
  readonly stateDir: string;
}

/** Addresses the host keeps: slice+1 … slice+hostReserve, with the slice prefix. */
export function bridgeAddresses(fan: Fan): Cidr[] {
  return Array.from({ length: fan.hostReserve }, (_, i) => ({
    address: u32(fan.host.slice.address + 1 + i),
    prefix: fan.host.slice.prefix,
  }));
}

/** First address containers may use: right after the host reserve (the slice layout says where). */
export function firstContainerAddress(fan: Fan): number {
  return sliceLayout(fan).containers?.start ?? u32(fan.host.slice.address + 1 + fan.hostReserve);
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

/** Each backend's devices for its fans; one eBPF table holds at most MAX_OVERLAYS rows. */
function dataplaneDevices(fans: readonly Fan[]): DataplaneDevice[] {
  const devices = mergeShared(
    ALL_BACKENDS.flatMap((backend) => backend.devices(fans.filter((f) => f.type === backend.type))),
  );
  for (const device of devices) {
    if (device.overlays.length > MAX_OVERLAYS) {
      throw new ConfigError(
        `${device.overlays.length} fans on ${device.dev}, but one eBPF table maps at most ${MAX_OVERLAYS} overlays`,
        'take some fans down, or give them a wider overlay each',
      );
    }
  }
  return devices;
}

/**
 * Backends that share a device (vxlan and vxlan-fast both use the fan-vxlan tunnel) get ONE entry with both
 * tables; two backends wanting different programs on one device cannot share it.
 */
function mergeShared(devices: readonly DataplaneDevice[]): DataplaneDevice[] {
  const out: DataplaneDevice[] = [];
  for (const device of devices) {
    const i = out.findIndex((d) => d.dev === device.dev);
    const first = out[i];
    if (first === undefined) {
      out.push(device);
      continue;
    }
    const programs = (d: DataplaneDevice): string => d.programs.map((p) => `${p.direction} ${p.section}`).join(',');
    if (programs(first) !== programs(device)) {
      throw new ConfigError(
        `the ${first.backend} and ${device.backend} fans both need ${device.dev} for their eBPF programs`,
        `give both fans the same --type, or put them on different underlay devices`,
      );
    }
    const link =
      first.link && device.link && first.link.type === 'vxlan' && device.link.type === 'vxlan'
        ? { ...first.link, mtu: Math.max(first.link.mtu, device.link.mtu) }
        : first.link;
    out[i] = { ...first, ...(link ? { link } : {}), overlays: [...first.overlays, ...device.overlays] };
  }
  return out;
}

export function planHost(fans: readonly Fan[], options: PlanOptions): DesiredHost {
  const devices = dataplaneDevices(fans);
  const peerDevice = (fan: Fan): string => backendOf(fan).peerDevice(fan);
  // MSS clamping applies where packets get smaller than the bridge's MTU: into a tunnel fan created.
  const tunnelLink = devices.find((d) => d.link?.type === 'vxlan')?.link;
  const tunnel = tunnelLink?.name;
  const tunnelPort = tunnelLink?.type === 'vxlan' ? tunnelLink.port : undefined;
  return {
    bridges: fans.map((fan) => ({
      name: fan.bridge,
      mtu: fanMtu(fan),
      mac: bridgeMac(fan.host.gateway),
      addresses: bridgeAddresses(fan),
      alias: `${FAN_ALIAS_PREFIX} bridge of fan ${formatCidr(fan.map.overlay)} over ${formatCidr(fan.map.underlay)}`,
    })),
    devices,
    routes: fans.map((fan) => ({
      dst: fan.map.overlay,
      dev: peerDevice(fan),
      via: FAN_ONLINK_GATEWAY,
      src: fan.host.gateway,
      mtu: fanMtu(fan),
    })),
    ...(fans.length === 0
      ? {}
      : {
          nat: {
            slices: fans.map((f) => f.host.slice),
            overlays: fans.map((f) => f.map.overlay),
            bridges: fans.map((f) => f.bridge),
            ...(tunnel !== undefined ? { tunnel } : {}),
            ...(tunnelPort !== undefined ? { tunnelPort } : {}),
          },
        }),
    forwardAccept: fans.map((f) => ({ bridge: f.bridge, from: peerDevice(f) })),
    dhcp: fans.filter((f) => f.dhcp).map((f) => dhcpSpec(f, options)),
  };
}

/**
 * Turns a FanSpec (what the user wrote) into a Fan (what this host will run) against a snapshot of the host:
 * which address is ours on the underlay, through which device, with which MTU. Pure.
 */
import { type Cidr, type Ipv4, contains, formatCidr, formatIpv4, isNetworkAddress, network } from '../address/ipv4.js';
import { ConfigError } from '../errors.js';
import { fanSetConflicts } from './fan-set.js';
import { type FanMap, type HostSlice, bridgeNameOf, defineFan, describeHost } from '../mapping/fan.js';
import { type HostFacts, type InterfaceFacts, defaultRouteDevice, findInterface } from '../model/host-facts.js';
import type { DataplaneType, FanSpec } from './fan-spec.js';
import { FAN_ROUTE_PROTO } from '../model/host-state.js';
import { sliceLayout } from '../mapping/layout.js';

export interface ResolvedUnderlay {
  readonly underlay: Cidr;
  readonly host: Ipv4;
  /** The interface holding the host address; absent when resolved without host facts (calculators). */
  readonly device?: string;
  readonly deviceMtu?: number;
  readonly deviceMac?: string;
}

/** A fan ready to plan: mapping, this host's slice, and the options. */
export interface Fan {
  readonly spec: FanSpec;
  readonly map: FanMap;
  readonly host: HostSlice;
  readonly device: string;
  readonly deviceMtu: number;
  /** MAC of the underlay device (host-gw's placeholder neighbour points at it). */
  readonly deviceMac?: string;
  readonly bridge: string;
  readonly hostReserve: number;
  readonly dhcp: boolean;
  readonly type: DataplaneType;
}

function firstAddress(iface: InterfaceFacts, text: string): Cidr {
  const address = iface.addresses[0];
  if (!address) {
    throw new ConfigError(
      `interface ${iface.name} (from underlay "${text}") has no IPv4 address`,
      `add an address to ${iface.name} or name another underlay`,
    );
  }
  return address;
}

/** Resolves an underlay without looking at the host: only ADDRESS/LEN can be resolved that way. */
export function resolveUnderlayOffline(spec: FanSpec): ResolvedUnderlay {
  const u = spec.underlay;
  if (u.kind !== 'cidr' || isNetworkAddress(u.cidr)) {
    throw new ConfigError(
      `underlay "${u.text}" does not name a host address`,
      "give this host's underlay address with its prefix, e.g. -u 172.16.3.4/16",
    );
  }
  return { underlay: network(u.cidr), host: u.cidr.address };
}

export function resolveUnderlay(
  spec: FanSpec,
  facts: HostFacts,
): Required<Omit<ResolvedUnderlay, 'deviceMac'>> & Pick<ResolvedUnderlay, 'deviceMac'> {
  const u = spec.underlay;
  const withAddresses = facts.interfaces.filter((i) => i.addresses.length > 0);
  const describe = (): string =>
    withAddresses.map((i) => `${i.name} ${i.addresses.map(formatCidr).join(',')}`).join('; ') || 'none';
  if (u.kind === 'cidr') {
    if (!isNetworkAddress(u.cidr)) {
      // ADDRESS/LEN: the address must be one of ours.
      const owner = withAddresses.find((i) => i.addresses.some((a) => a.address === u.cidr.address));
      if (!owner) {
        throw new ConfigError(
          `${formatIpv4(u.cidr.address)} (underlay "${u.text}") is not an address of this host`,
          `use one of this host's addresses (${describe()}) or the underlay network, ` +
            `e.g. ${formatCidr(network(u.cidr))}`,
        );
      }
      return { underlay: network(u.cidr), host: u.cidr.address, device: owner.name, deviceMtu: owner.mtu };
    }
    // NETWORK/LEN: the first address of ours inside it.
    for (const iface of withAddresses) {
      const match = iface.addresses.find((a) => contains(u.cidr, a.address));
      if (match) return { underlay: u.cidr, host: match.address, device: iface.name, deviceMtu: iface.mtu };
    }
    throw new ConfigError(
      `this host has no address inside underlay ${formatCidr(u.cidr)}`,
      `addresses found: ${describe()}; name the underlay this host is on`,
    );
  }
  let name: string;
  if (u.kind === 'default') {
    const dev = defaultRouteDevice(facts);
    if (!dev)
      throw new ConfigError(
        `underlay "${u.text}" names the default route, but this host has none`,
        'name the interface instead, e.g. -u eth0/16',
      );
    name = dev;
  } else {
    name = u.name;
  }
  const iface = findInterface(facts, name);
  if (!iface) {
    throw new ConfigError(
      `interface ${name} (underlay "${u.text}") does not exist`,
      `interfaces with addresses: ${describe()}`,
    );
  }
  const address = firstAddress(iface, u.text);
  const prefix = u.prefix ?? address.prefix;
  return {
    underlay: network({ address: address.address, prefix }),
    host: address.address,
    device: iface.name,
    deviceMtu: iface.mtu,
  };
}

/**
 * Resolves every fan for this host and checks them together: disjoint overlays, distinct bridges, enough room in
 * the slice for the host reserve, no overlap with routes the host already uses (other than fan's own).
 */
/** What a fan was resolved to when it came up: enough to take it down even when the host has changed since. */
export interface RecordedUnderlay {
  readonly underlay: Cidr;
  readonly host: Ipv4;
  readonly device: string;
  readonly deviceMtu: number;
  readonly deviceMac?: string;
}

/** The underlay a fan resolved to, to record with it. */
export function recordedUnderlay(fan: Fan): RecordedUnderlay {
  return {
    underlay: fan.map.underlay,
    host: fan.host.host,
    device: fan.device,
    deviceMtu: fan.deviceMtu,
    ...(fan.deviceMac !== undefined ? { deviceMac: fan.deviceMac } : {}),
  };
}

function fanOf(spec: FanSpec, r: RecordedUnderlay, facts: HostFacts, ownedDevices: ReadonlySet<string>): Fan {
  const map = defineFan(spec.overlay, r.underlay);
  const host = describeHost(map, r.host);
  // The slice loses its network and broadcast addresses and the reserve; at least one container address must remain.
  const maxReserve = host.size - 3;
  if (spec.hostReserve > maxReserve) {
    throw new ConfigError(
      `host-reserve ${spec.hostReserve} leaves no container addresses in slice ${formatCidr(host.slice)} ` +
        `(${host.size} addresses)`,
      maxReserve >= 1
        ? `use a host-reserve of at most ${maxReserve}, or a wider slice ` +
          `(a shorter overlay prefix or a longer underlay prefix)`
        : 'use a wider slice (a shorter overlay prefix or a longer underlay prefix)',
    );
  }
  for (const route of facts.routes) {
    if (route.dev !== undefined && ownedDevices.has(route.dev)) continue;
    if (route.protocol === String(FAN_ROUTE_PROTO)) continue; // fan's own (host-gw routes sit on the underlay device)
    if (route.dst.prefix === 0) continue;
    if (contains(map.overlay, route.dst.address) || contains(route.dst, map.overlay.address)) {
      throw new ConfigError(
        `overlay ${formatCidr(map.overlay)} overlaps route ` +
          `${formatCidr(route.dst)}${route.dev ? ` on ${route.dev}` : ''} already used by this host`,
        'pick an overlay this host does not route, e.g. in 240.0.0.0/4',
      );
    }
  }
  const fan: Fan = {
    spec,
    map,
    host,
    device: r.device,
    deviceMtu: r.deviceMtu,
    ...(r.deviceMac !== undefined ? { deviceMac: r.deviceMac } : {}),
    bridge: spec.bridge ?? bridgeNameOf(map.overlay),
    hostReserve: spec.hostReserve,
    dhcp: spec.dhcp,
    type: spec.type,
  };
  sliceLayout(fan); // a dhcp-range that does not fit this host's slice is refused here, before any I/O
  return fan;
}

/**
 * Resolves every fan for this host and checks them together: disjoint overlays, distinct bridges, enough room in
 * the slice for the host reserve, no overlap with routes the host already uses (other than fan's own). A fan that
 * came up before (`recorded[i]`) and whose underlay no longer resolves (its address changed, its interface went)
 * keeps what it was resolved to then, so it can still be shown, kept and taken down.
 */
export function resolveFans(
  specs: readonly FanSpec[],
  facts: HostFacts,
  ownedDevices: ReadonlySet<string> = new Set(),
  recorded: readonly (RecordedUnderlay | undefined)[] = [],
): Fan[] {
  const fans = specs.map((spec, i) => {
    let r: RecordedUnderlay;
    try {
      const now = resolveUnderlay(spec, facts);
      const mac = findInterface(facts, now.device)?.mac;
      r = { ...now, ...(mac !== undefined ? { deviceMac: mac } : {}) };
    } catch (error) {
      const before = recorded[i];
      if (!(error instanceof ConfigError) || before === undefined) throw error;
      r = before;
    }
    return fanOf(spec, r, facts, ownedDevices);
  });
  const conflict = fanSetConflicts(fans.map((f) => ({ overlay: f.map.overlay, bridge: f.bridge })))[0];
  if (conflict) throw new ConfigError(conflict.message, conflict.hint);
  return fans;
}

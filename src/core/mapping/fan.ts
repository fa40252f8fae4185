/**
 * The Fan mapping, exactly as Ubuntu's kernel computes it (docs/mapping.md).
 *
 * An overlay O/ov is laid over an underlay U/ul (ov < ul). The host at underlay address H owns the overlay
 * slice O | (h << (ul - ov)) of prefix ov + (32 - ul), where h are H's host bits; the tunnel destination of an
 * overlay address d is U | ((d & ~mask(ov)) >> (ul - ov)). Everything is unsigned 32-bit arithmetic and pure.
 */
import {
  type Cidr,
  type Ipv4,
  broadcast,
  contains,
  formatCidr,
  formatIpv4,
  hostMask,
  network,
  octets,
  overlaps,
  u32,
} from '../address/ipv4.js';
import { ConfigError } from '../errors.js';

/** One overlay mapped onto one underlay. Both are normalised to their network address. */
export interface FanMap {
  readonly overlay: Cidr;
  readonly underlay: Cidr;
}

/** Overlays that can never carry unicast container traffic. */
export const RESERVED_OVERLAYS: readonly { readonly net: Cidr; readonly why: string }[] = [
  { net: { address: 0x00000000, prefix: 8 }, why: '"this network" (0.0.0.0/8)' },
  { net: { address: 0x7f000000, prefix: 8 }, why: 'loopback (127.0.0.0/8)' },
  { net: { address: 0xe0000000, prefix: 4 }, why: 'multicast (224.0.0.0/4)' },
];

/** Throws when an overlay can never carry unicast container traffic (whatever the underlay). */
export function checkOverlay(overlay: Cidr): void {
  const o = network(overlay);
  for (const reserved of RESERVED_OVERLAYS) {
    if (overlaps(o, reserved.net)) {
      throw new ConfigError(
        `overlay ${formatCidr(o)} overlaps ${reserved.why}`,
        'pick an overlay in the class E range 240.0.0.0/4, e.g. 250.0.0.0/8',
      );
    }
  }
}

/** Validates and normalises an overlay/underlay pair. */
export function defineFan(overlay: Cidr, underlay: Cidr): FanMap {
  const o = network(overlay);
  const u = network(underlay);
  if (o.prefix >= u.prefix) {
    throw new ConfigError(
      `overlay ${formatCidr(o)} must be wider than underlay ${formatCidr(u)} ` +
        `(overlay prefix ${o.prefix} >= underlay prefix ${u.prefix})`,
      'use a shorter overlay prefix or a longer underlay prefix, e.g. -o 250.0.0.0/8 -u 172.16.0.0/16',
    );
  }
  checkOverlay(o);
  if (overlaps(o, u)) {
    throw new ConfigError(
      `overlay ${formatCidr(o)} overlaps underlay ${formatCidr(u)}`,
      'the overlay must be a range the underlay never uses, e.g. 250.0.0.0/8',
    );
  }
  return { overlay: o, underlay: u };
}

/** ul - ov: how many container-index bits each host's slice has. */
export function shiftOf(map: FanMap): number {
  return map.underlay.prefix - map.overlay.prefix;
}

/** The host bits of an underlay address (its position inside the underlay). */
export function hostBits(map: FanMap, host: Ipv4): number {
  return u32(host & hostMask(map.underlay.prefix));
}

/** Throws unless `host` can own a slice: inside the underlay and not its network or broadcast address. */
export function checkHost(map: FanMap, host: Ipv4): void {
  if (!contains(map.underlay, host)) {
    throw new ConfigError(
      `host address ${formatIpv4(host)} is outside the underlay ${formatCidr(map.underlay)}`,
      `use an address inside ${formatCidr(map.underlay)}, or the underlay this host is on`,
    );
  }
  const h = hostBits(map, host);
  if (h === 0 || h === hostMask(map.underlay.prefix)) {
    throw new ConfigError(
      `host address ${formatIpv4(host)} is the ` +
        `${h === 0 ? 'network' : 'broadcast'} address of underlay ${formatCidr(map.underlay)}`,
      'a Fan host needs host bits that are neither all zero nor all one',
    );
  }
}

/** The overlay slice a host owns. */
export function sliceOf(map: FanMap, host: Ipv4): Cidr {
  checkHost(map, host);
  const shift = shiftOf(map);
  const address = u32(map.overlay.address | u32(hostBits(map, host) << shift));
  return { address, prefix: map.overlay.prefix + (32 - map.underlay.prefix) };
}

/**
 * The underlay host an overlay address lives on (the tunnel destination). The low `ul - ov` bits, the container
 * index, are dropped. Throws when the address is not in the overlay.
 */
export function underlayHostOf(map: FanMap, overlayAddress: Ipv4): Ipv4 {
  if (!contains(map.overlay, overlayAddress)) {
    throw new ConfigError(
      `${formatIpv4(overlayAddress)} is not inside overlay ${formatCidr(map.overlay)}`,
      `give an address inside ${formatCidr(map.overlay)}`,
    );
  }
  const inner = u32(overlayAddress & hostMask(map.overlay.prefix));
  return u32(map.underlay.address | (inner >>> shiftOf(map)));
}

/** True when overlay address `x` is in the slice of underlay host `host`. */
export function belongsTo(map: FanMap, x: Ipv4, host: Ipv4): boolean {
  return contains(map.overlay, x) && contains(map.underlay, host) && underlayHostOf(map, x) === u32(host);
}

/** VXLAN network identifier: the overlay network as u32 >> 8 (250.0.0.0/8 → 16384000). */
export function vniOf(overlay: Cidr): number {
  return u32(network(overlay).address) >>> 8;
}

/** `fan-` + the overlay's octets with trailing zero octets dropped: 250.0.0.0 → fan-250, 250.1.0.0 → fan-250-1. */
export function bridgeNameOf(overlay: Cidr): string {
  const parts = octets(network(overlay).address);
  while (parts.length > 1 && parts[parts.length - 1] === 0) parts.pop();
  return `fan-${parts.join('-')}`;
}

/** Everything derivable about one host on one fan. */
export interface HostSlice {
  readonly map: FanMap;
  readonly host: Ipv4;
  readonly slice: Cidr;
  /** First address of the slice: the bridge address containers use as their gateway. */
  readonly gateway: Ipv4;
  readonly firstUsable: Ipv4;
  readonly lastUsable: Ipv4;
  /** Addresses in the slice (2^(ul-ov)). */
  readonly size: number;
  readonly vni: number;
}

export function describeHost(map: FanMap, host: Ipv4): HostSlice {
  const slice = sliceOf(map, host);
  return {
    map,
    host: u32(host),
    slice,
    gateway: u32(slice.address + 1),
    firstUsable: u32(slice.address + 1),
    lastUsable: u32(broadcast(slice) - 1),
    size: 2 ** shiftOf(map),
    vni: vniOf(map.overlay),
  };
}

/** Two fans of one set that cannot both be up on a host; `first` and `second` index the set. */
export interface FanConflict {
  readonly first: number;
  readonly second: number;
  readonly message: string;
  readonly hint: string;
}

/** Every pair of overlapping overlays (lookup is first match, so overlays on one host must be disjoint). */
export function overlayConflicts(overlays: readonly Cidr[]): FanConflict[] {
  const conflicts: FanConflict[] = [];
  for (let i = 0; i < overlays.length; i++) {
    for (let j = i + 1; j < overlays.length; j++) {
      const a = network(overlays[i] as Cidr);
      const b = network(overlays[j] as Cidr);
      if (overlaps(a, b)) {
        conflicts.push({
          first: i,
          second: j,
          message: `overlay ${formatCidr(a)} overlaps overlay ${formatCidr(b)}`,
          hint: 'give each fan on a host its own, disjoint overlay',
        });
      }
    }
  }
  return conflicts;
}

/** Several fans on one host: overlays must not overlap one another (lookup is first match). */
export function checkDistinctOverlays(maps: readonly FanMap[]): void {
  const conflict = overlayConflicts(maps.map((m) => m.overlay))[0];
  if (conflict) throw new ConfigError(conflict.message, conflict.hint);
}

/** First fan whose overlay holds `address` (Ubuntu's kernel does first match), or undefined. */
export function findFan<T extends { readonly map: FanMap }>(fans: readonly T[], address: Ipv4): T | undefined {
  return fans.find((f) => contains(f.map.overlay, address));
}

export function sameFan(a: FanMap, b: FanMap): boolean {
  return (
    a.overlay.address === b.overlay.address &&
    a.overlay.prefix === b.overlay.prefix &&
    a.underlay.address === b.underlay.address &&
    a.underlay.prefix === b.underlay.prefix
  );
}

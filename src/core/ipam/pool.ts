/**
 * The addresses one host may hand out to containers on one fan: its overlay slice minus
 *   - the network and broadcast addresses of the slice,
 *   - the host reserve, slice+1 … slice+hostReserve (slice+1 is the bridge, the containers' gateway),
 *   - the DHCP range, when the fan serves DHCP (dnsmasq owns those addresses).
 * Every address this IPAM hands out lies in this host's slice, so the address alone says which host owns the
 * container (docs/mapping.md). Pure.
 */
import { type Cidr, type Ipv4, broadcast, formatCidr, formatIpv4, network, u32 } from '../address/ipv4.js';
import type { Fan } from '../config/resolve.js';
import { sliceLayout } from '../mapping/layout.js';

/** A named range of the slice nobody may allocate from. */
export interface ReservedRange {
  readonly start: Ipv4;
  readonly end: Ipv4;
  /** Why, for error messages: "the slice's network address", "the host reserve (bridge fan-250)", "the DHCP range". */
  readonly reason: string;
}

export interface IpamPool {
  /** Names the pool in messages: `fan 250.0.0.0/8 (bridge fan-250)`. */
  readonly label: string;
  /** This host's slice (network form); container addresses carry its prefix. */
  readonly slice: Cidr;
  /** The bridge address containers route through. */
  readonly gateway: Ipv4;
  /** Ranges inside the slice that are never allocated, in address order. */
  readonly reserved: readonly ReservedRange[];
  /** True when the fan serves DHCP (then its range is one of `reserved`). */
  readonly dhcp: boolean;
}

/** Builds a pool from its parts; `poolOf(fan)` is the usual entry point. */
export function makePool(options: {
  readonly label: string;
  readonly slice: Cidr;
  readonly hostReserve: number;
  readonly dhcpRange?: { readonly start: Ipv4; readonly end: Ipv4 };
  /** Defaults to slice+1, the fan bridge's address. */
  readonly gateway?: Ipv4;
}): IpamPool {
  const slice = network(options.slice);
  const last = broadcast(slice);
  const reserved: ReservedRange[] = [
    { start: slice.address, end: slice.address, reason: "the slice's network address" },
  ];
  if (options.hostReserve > 0) {
    reserved.push({
      start: u32(slice.address + 1),
      end: u32(Math.min(slice.address + options.hostReserve, last)),
      reason: `the host reserve (host-reserve ${options.hostReserve}: the bridge and host addresses)`,
    });
  }
  if (options.dhcpRange)
    reserved.push({ ...options.dhcpRange, reason: "the fan's DHCP range (dnsmasq hands these out)" });
  reserved.push({ start: last, end: last, reason: "the slice's broadcast address" });
  return {
    label: options.label,
    slice,
    gateway: options.gateway ?? u32(slice.address + 1),
    reserved: reserved.sort((a, b) => a.start - b.start),
    dhcp: options.dhcpRange !== undefined,
  };
}

/** The pool of a resolved fan on this host. */
export function poolOf(fan: Fan): IpamPool {
  const { dhcp } = sliceLayout(fan); // the DHCP share is dnsmasq's: never allocated here
  return makePool({
    label: `fan ${formatCidr(fan.map.overlay)} (bridge ${fan.bridge})`,
    slice: fan.host.slice,
    hostReserve: fan.hostReserve,
    gateway: fan.host.gateway,
    ...(dhcp ? { dhcpRange: dhcp } : {}),
  });
}

/**
 * The pool narrowed to `range` (Docker's `--ip-range`): everything of the slice outside the range is reserved,
 * so allocation and static requests stay inside it while the slice, its prefix and gateway stay the same.
 */
export function restrictPool(pool: IpamPool, range: Cidr): IpamPool {
  const start = network(range).address;
  const end = broadcast(range);
  const outside = `outside the network's --ip-range ${formatCidr(network(range))}`;
  const extra: ReservedRange[] = [];
  if (start > pool.slice.address) extra.push({ start: pool.slice.address, end: u32(start - 1), reason: outside });
  if (end < broadcast(pool.slice)) extra.push({ start: u32(end + 1), end: broadcast(pool.slice), reason: outside });
  return {
    ...pool,
    label: `${pool.label} range ${formatCidr(network(range))}`,
    reserved: [...pool.reserved, ...extra].sort((a, b) => a.start - b.start),
  };
}

/** The reserved range holding `address`, if any. */
export function reservedRangeOf(pool: IpamPool, address: Ipv4): ReservedRange | undefined {
  return pool.reserved.find((r) => address >= r.start && address <= r.end);
}

/** Addresses the pool can hand out (the slice minus every reserved range). */
export function poolSize(pool: IpamPool): number {
  const sliceStart = pool.slice.address;
  const sliceEnd = broadcast(pool.slice);
  // Reserved ranges may overlap (a DHCP range that reaches into the reserve): count covered addresses once.
  let covered = 0;
  let cursor = sliceStart; // first address not yet counted
  for (const r of pool.reserved) {
    const start = Math.max(r.start, cursor, sliceStart);
    const end = Math.min(r.end, sliceEnd);
    if (end >= start) {
      covered += end - start + 1;
      cursor = end + 1;
    }
  }
  return sliceEnd - sliceStart + 1 - covered;
}

/** `250.3.4.2–250.3.4.254`: the free ranges of the pool, for messages. */
export function describeFreeRanges(pool: IpamPool): string {
  const ranges: string[] = [];
  let cursor = pool.slice.address;
  const end = broadcast(pool.slice);
  for (const r of pool.reserved) {
    if (r.start > cursor) ranges.push(rangeText(cursor, r.start - 1));
    cursor = Math.max(cursor, r.end + 1);
  }
  if (cursor <= end) ranges.push(rangeText(cursor, end));
  return ranges.join(', ') || 'none';
}

export function rangeText(start: Ipv4, end: Ipv4): string {
  return start === end ? formatIpv4(start) : `${formatIpv4(start)}–${formatIpv4(end)}`;
}

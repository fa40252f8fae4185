/**
 * How one host's slice of a fan is shared out, in one place: every other module (dnsmasq's range, the IPAM pool
 * that CNI and Docker allocate from, Docker's bridge-driver command, the lab) asks this one. Pure.
 *
 *   slice+0                     network address (never used)
 *   slice+1 … slice+R           host reserve (R = host-reserve; slice+1 is the bridge and the containers' gateway)
 *   slice+R+1 … broadcast−1     container addresses, split between
 *       the IPAM share          static allocation by fan's IPAM (CNI, the Docker plugin, fanctl lxc-config)
 *       the DHCP share          dnsmasq's range (LXD, LXC with DHCP), only when the fan serves DHCP
 *   broadcast                   never used
 *
 * Default split with DHCP: the slice's upper half (slice+size/2 … broadcast−1) goes to DHCP and the container
 * addresses below it to the IPAM. For a /24 with host-reserve 1: IPAM .2–.127 (126), DHCP .128–.254 (127). The
 * halves are CIDR-aligned, so Docker's bridge driver can be given the IPAM share as one `--ip-range` (the lower
 * half's network address is the slice's, which Docker never hands out). When the host reserve reaches into the upper
 * half, the container addresses themselves are halved instead (DHCP gets the upper, larger half). `dhcp-range N`
 * gives DHCP the last N container addresses; `dhcp-range START-END` exactly those (after the reserve, before the
 * broadcast address). Without DHCP, every container address belongs to the IPAM.
 */
import { type Cidr, type Ipv4, broadcast, contains, formatCidr, formatIpv4, network, u32 } from '../address/ipv4.js';
import type { DhcpRangeSpec } from '../config/fan-spec.js';
import { ConfigError } from '../errors.js';

/** Inclusive on both ends; `start <= end`. */
export interface AddressRange {
  readonly start: Ipv4;
  readonly end: Ipv4;
}

export interface SliceLayout {
  readonly slice: Cidr;
  /** The bridge's address, the containers' default gateway (slice+1). */
  readonly gateway: Ipv4;
  /** slice+1 … slice+host-reserve. */
  readonly reserve: AddressRange;
  /** Every address a container may have: after the reserve, before the broadcast address (may be empty: undefined). */
  readonly containers?: AddressRange;
  /** dnsmasq's range, when the fan serves DHCP. */
  readonly dhcp?: AddressRange;
  /** What fan's IPAM may allocate: the container addresses outside the DHCP range (0, 1 or 2 ranges, in order). */
  readonly ipam: readonly AddressRange[];
}

export interface LayoutInput {
  readonly slice: Cidr;
  readonly hostReserve: number;
  readonly dhcp: boolean;
  readonly dhcpRange?: DhcpRangeSpec;
}

/** What a resolved fan offers the layout (a `Fan` fits). */
export interface LayoutFan {
  readonly host: { readonly slice: Cidr };
  readonly hostReserve: number;
  readonly dhcp: boolean;
  readonly spec: { readonly dhcpRange?: DhcpRangeSpec };
}

export function rangeSize(r: AddressRange | undefined): number {
  return r === undefined ? 0 : r.end - r.start + 1;
}

export function inRange(r: AddressRange | undefined, address: Ipv4): boolean {
  return r !== undefined && address >= r.start && address <= r.end;
}

export function formatRange(r: AddressRange): string {
  return r.start === r.end ? formatIpv4(r.start) : `${formatIpv4(r.start)}-${formatIpv4(r.end)}`;
}

/** The DHCP share when none is written. */
function defaultDhcp(slice: Cidr, containers: AddressRange): AddressRange {
  const half = u32(slice.address + Math.floor(2 ** (32 - slice.prefix) / 2));
  if (containers.start < half) return { start: half, end: containers.end };
  const count = rangeSize(containers);
  return { start: u32(containers.start + Math.floor(count / 2)), end: containers.end };
}

function explicitDhcp(
  slice: Cidr,
  containers: AddressRange | undefined,
  hostReserve: number,
  spec: DhcpRangeSpec,
): AddressRange {
  const sliceText = formatCidr(slice);
  if (containers === undefined) {
    throw new ConfigError(
      `dhcp-range ${spec.text}: slice ${sliceText} has no container addresses after host-reserve ${hostReserve}`,
      'use a smaller host-reserve or a wider slice',
    );
  }
  const all = formatRange(containers);
  const example = formatRange(defaultDhcp(slice, containers));
  if (spec.kind === 'count') {
    if (spec.count > rangeSize(containers)) {
      throw new ConfigError(
        `dhcp-range ${spec.count} asks for more addresses than slice ${sliceText} has for containers ` +
          `(${rangeSize(containers)}: ${all})`,
        `use a count of at most ${rangeSize(containers)}, ` +
          `e.g. ${rangeSize(defaultDhcp(slice, containers))} (the upper half)`,
      );
    }
    return { start: u32(containers.end - spec.count + 1), end: containers.end };
  }
  const range = formatRange(spec);
  if (!contains(slice, spec.start) || !contains(slice, spec.end)) {
    throw new ConfigError(
      `dhcp-range ${range} is not inside this host's slice ${sliceText}`,
      `give a range of container addresses of ${sliceText} (${all}), e.g. ${example}, ` +
        'or a count (the last N container addresses), which suits every host',
    );
  }
  if (spec.start < containers.start) {
    const reserved = formatRange({ start: u32(slice.address + 1), end: u32(containers.start - 1) });
    const reserveText = `the host reserve (host-reserve ${hostReserve}: ${reserved})`;
    throw new ConfigError(
      `dhcp-range ${range} starts inside ${spec.start === slice.address ? "the slice's network address" : reserveText}`,
      `start at ${formatIpv4(containers.start)} or later, e.g. ${example}`,
    );
  }
  if (spec.end > containers.end) {
    throw new ConfigError(
      `dhcp-range ${range} ends at the slice's broadcast address ${formatIpv4(broadcast(slice))}`,
      `end at ${formatIpv4(containers.end)} or earlier, e.g. ${example}`,
    );
  }
  return { start: spec.start, end: spec.end };
}

/** The layout of a slice; throws ConfigError when a written dhcp-range does not fit it. */
export function layoutOf(input: LayoutInput): SliceLayout {
  const slice = network(input.slice);
  const last = broadcast(slice);
  const gateway = u32(slice.address + 1);
  const reserve = { start: gateway, end: u32(Math.min(slice.address + input.hostReserve, last)) };
  const firstContainer = slice.address + input.hostReserve + 1;
  const containers = firstContainer <= last - 1 ? { start: u32(firstContainer), end: u32(last - 1) } : undefined;
  let dhcp: AddressRange | undefined;
  if (input.dhcpRange !== undefined) dhcp = explicitDhcp(slice, containers, input.hostReserve, input.dhcpRange);
  else if (input.dhcp && containers !== undefined) dhcp = defaultDhcp(slice, containers);
  const ipam: AddressRange[] = [];
  if (containers !== undefined) {
    if (dhcp === undefined) {
      ipam.push(containers);
    } else {
      if (dhcp.start > containers.start) ipam.push({ start: containers.start, end: u32(dhcp.start - 1) });
      if (dhcp.end < containers.end) ipam.push({ start: u32(dhcp.end + 1), end: containers.end });
    }
  }
  return { slice, gateway, reserve, ...(containers ? { containers } : {}), ...(dhcp ? { dhcp } : {}), ipam };
}

/** The layout of a resolved fan's slice on this host. */
export function sliceLayout(fan: LayoutFan): SliceLayout {
  return layoutOf({
    slice: fan.host.slice,
    hostReserve: fan.hostReserve,
    dhcp: fan.dhcp,
    ...(fan.spec.dhcpRange === undefined ? {} : { dhcpRange: fan.spec.dhcpRange }),
  });
}

/** Plain-JSON view for `--json` output and messages. */
export interface LayoutReport {
  readonly slice: string;
  readonly gateway: string;
  readonly reserve: string;
  readonly containers: string | null;
  readonly dhcp: string | null;
  readonly ipam: readonly string[];
  readonly dhcpSize: number;
  readonly ipamSize: number;
}

export function layoutReport(layout: SliceLayout): LayoutReport {
  return {
    slice: formatCidr(layout.slice),
    gateway: formatIpv4(layout.gateway),
    reserve: formatRange(layout.reserve),
    containers: layout.containers ? formatRange(layout.containers) : null,
    dhcp: layout.dhcp ? formatRange(layout.dhcp) : null,
    ipam: layout.ipam.map(formatRange),
    dhcpSize: rangeSize(layout.dhcp),
    ipamSize: layout.ipam.reduce((n, r) => n + rangeSize(r), 0),
  };
}

/** The CIDR blocks that exactly cover `r`, largest-aligned first from its start. */
export function rangeToCidrs(r: AddressRange): Cidr[] {
  const out: Cidr[] = [];
  let a = r.start;
  while (a <= r.end) {
    let bits = 0;
    while (bits < 32 && a % 2 ** (bits + 1) === 0 && a + 2 ** (bits + 1) - 1 <= r.end) bits++;
    out.push({ address: u32(a), prefix: 32 - bits });
    a += 2 ** bits;
  }
  return out;
}

/**
 * The largest CIDR block of the slice that holds no DHCP address and at least one IPAM address (the lowest of
 * equals): what a runtime that takes one CIDR as its allocation range (Docker's `--ip-range`) can be given. Its other
 * addresses are the slice's network/broadcast address or the host reserve, which such runtimes skip or are told
 * to skip. Undefined when the IPAM share is empty.
 */
export function largestIpamBlock(layout: SliceLayout): Cidr | undefined {
  const last = broadcast(layout.slice);
  const allowed: AddressRange[] =
    layout.dhcp === undefined
      ? [{ start: layout.slice.address, end: last }]
      : [
          ...(layout.dhcp.start > layout.slice.address
            ? [{ start: layout.slice.address, end: u32(layout.dhcp.start - 1) }]
            : []),
          ...(layout.dhcp.end < last ? [{ start: u32(layout.dhcp.end + 1), end: last }] : []),
        ];
  let best: Cidr | undefined;
  for (const block of allowed.flatMap(rangeToCidrs)) {
    const end = broadcast(block);
    if (!layout.ipam.some((r) => r.start <= end && r.end >= block.address)) continue;
    if (best === undefined || block.prefix < best.prefix) best = block;
  }
  return best;
}

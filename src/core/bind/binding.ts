/**
 * Port binding: every bridge port fan attaches a container to may send only from the MAC address and the IPv4
 * addresses fan gave it (frames and ARP alike), and no other port of the host may use those addresses or the
 * reserved ones (network, host reserve, broadcast). Pure: the data and the derived key; src/codec/bind-nft.ts
 * renders it as nftables table `bridge fan-bind`.
 */
import { type Ipv4, broadcast, formatIpv4, octets, u32 } from '../address/ipv4.js';
import type { Fan } from '../config/resolve.js';

/** One attached port: its host-side interface name, the container end's MAC and the addresses fan gave it. */
export interface PortBinding {
  readonly port: string;
  readonly mac: string;
  readonly addresses: readonly Ipv4[];
}

/** An inclusive range of addresses no container may send from. */
export interface AddressRange {
  readonly first: Ipv4;
  readonly last: Ipv4;
}

export interface BindTableSpec {
  /** Per fan of this host: the slice's network address and host reserve, and its broadcast address. */
  readonly reserved: readonly AddressRange[];
  readonly bindings: readonly PortBinding[];
}

/**
 * The MAC fan gives a container end: locally administered, unicast, the container's address in its last four
 * bytes. Known before the veth exists (so the binding can be in place first) and unique on the bridge, because the
 * IPAM gives each address once.
 */
export function containerMac(address: Ipv4): string {
  return ['0a', '58', ...octets(address).map((o) => o.toString(16).padStart(2, '0'))].join(':');
}

/**
 * The MAC fan gives a bridge it creates, by the same rule from the gateway address. Set explicitly, it stays put:
 * a bridge left to itself takes its lowest port's MAC, so containers' cached gateway MAC would go stale as ports
 * come and go (the fast path takes only frames to the bridge's current MAC).
 */
export const bridgeMac = (gateway: Ipv4): string => containerMac(gateway);

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Lower case, and checked: nft wants `xx:xx:xx:xx:xx:xx`. */
export function normalizeMac(mac: string): string | undefined {
  const m = mac.trim().toLowerCase();
  return MAC.test(m) ? m : undefined;
}

/** What no container on this host may send from. */
export function reservedRanges(fans: readonly Fan[]): AddressRange[] {
  return fans.flatMap((fan) => {
    const slice = fan.host.slice;
    return [
      { first: slice.address, last: u32(slice.address + fan.hostReserve) },
      { first: broadcast(slice), last: broadcast(slice) },
    ];
  });
}

/** Adds or replaces `next`: the port's earlier binding, and any other binding of its addresses, go. */
export function withBinding(
  list: readonly PortBinding[],
  next: PortBinding,
): { readonly list: PortBinding[]; readonly replaced: PortBinding[] } {
  const clashes = (b: PortBinding): boolean =>
    b.port === next.port || b.mac === next.mac || b.addresses.some((a) => next.addresses.includes(a));
  return { list: [...list.filter((b) => !clashes(b)), next], replaced: list.filter(clashes) };
}

/** Stable text for logs and errors. */
export function describeBinding(b: PortBinding): string {
  return `${b.port} (${b.mac}, ${b.addresses.map(formatIpv4).join(', ')})`;
}

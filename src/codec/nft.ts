/**
 * fan's nftables table, rendered as one `nft -f` script that replaces the table atomically. The table carries a
 * content key in its comment so a later run can tell, without parsing rules, whether it is already as desired.
 */
import { formatCidr } from '../core/address/ipv4.js';
import { FAN_NFT_TABLE, type NatSpec } from '../core/model/host-state.js';

const elements = (cidrs: readonly { address: number; prefix: number }[]): string =>
  cidrs.map((c) => formatCidr(c)).join(', ');

export function renderNftTable(nat: NatSpec, key: string): string {
  const lines = [
    `table ip ${FAN_NFT_TABLE} {`,
    `\tcomment "managed by fanctl; key ${key}"`,
    '\tset overlays {',
    '\t\ttype ipv4_addr',
    '\t\tflags interval',
    `\t\telements = { ${elements(nat.overlays)} }`,
    '\t}',
    '\tset slices {',
    '\t\ttype ipv4_addr',
    '\t\tflags interval',
    `\t\telements = { ${elements(nat.slices)} }`,
    '\t}',
    '\tchain postrouting {',
    '\t\ttype nat hook postrouting priority srcnat; policy accept;',
    '\t\tip saddr @slices ip daddr != @overlays counter masquerade comment "fan: egress NAT to the underlay address"',
    '\t}',
    '\tchain forward {',
    '\t\ttype filter hook forward priority filter; policy accept;',
    ...nat.bridges
      .map((bridge, i) => {
        const slice = nat.slices[i];
        return slice === undefined
          ? ''
          : `\t\tiifname "${bridge}" ip saddr != ${formatCidr(slice)} counter drop comment "fan: ` +
              `anti-spoofing on ${bridge}"`;
      })
      .filter((l) => l !== ''),
    ...tunnelPortRules(nat, 'forwarded'),
    ...(nat.tunnel === undefined
      ? []
      : [
          `\t\toifname "${nat.tunnel}" tcp flags syn tcp option maxseg size set rt mtu comment "fan: ` +
            `clamp MSS to the tunnel MTU"`,
        ]),
    '\t}',
    ...inputChain(nat),
    '}',
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Tunnel packets come from the underlay, never from a container: UDP to the tunnel port arriving on a fan bridge is
 * dropped, whether it is for this host (input) or another one (forward: the masquerade would give it this host's
 * underlay address, which the peer's eBPF check trusts for this host's slice).
 */
function tunnelPortRules(nat: NatSpec, where: 'forwarded' | 'to this host'): string[] {
  if (nat.tunnelPort === undefined) return [];
  return nat.bridges.map(
    (bridge) =>
      `\t\tiifname "${bridge}" udp dport ${nat.tunnelPort} counter drop comment "fan: ` +
      `tunnel port from a container on ${bridge} (${where})"`,
  );
}

/**
 * Packets from containers to the host itself: the forward chain never sees them, so without these a container
 * could reach the host with any source (a forged underlay address, another host's container). DHCP requests
 * (source 0.0.0.0, to dnsmasq) are the one exception to "source inside the slice".
 */
function inputChain(nat: NatSpec): string[] {
  const perBridge = nat.bridges.flatMap((bridge, i) => {
    const slice = nat.slices[i];
    if (slice === undefined) return [];
    return [
      `\t\tiifname "${bridge}" ip saddr 0.0.0.0 udp dport 67 accept comment "fan: DHCP request on ${bridge}"`,
      `\t\tiifname "${bridge}" ip saddr != ${formatCidr(slice)} counter drop comment "fan: ` +
        `anti-spoofing into the host on ${bridge}"`,
    ];
  });
  return [
    '\tchain input {',
    '\t\ttype filter hook input priority filter; policy accept;',
    ...tunnelPortRules(nat, 'to this host'),
    ...perBridge,
    '\t}',
  ];
}

/** Creates-if-absent, deletes, and defines the table in one transaction. */
export function renderNftReplace(nat: NatSpec, key: string): string {
  return `table ip ${FAN_NFT_TABLE}\ndelete table ip ${FAN_NFT_TABLE}\n${renderNftTable(nat, key)}`;
}

/**
 * Reads the content key back from `nft list table ip fan`. Text, not `-j`: nft 1.0.6's JSON omits table comments.
 * Only the table's own comment line is matched.
 */
export function decodeNftKey(listing: string): string | undefined {
  return /^\s*comment "managed by fanctl; key ([0-9a-f]+)"$/m.exec(listing)?.[1];
}

function sortedElements(list: string): string {
  return list
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '')
    .sort()
    .join(', ');
}

/** Lines that carry meaning: trimmed, no blank lines, wrapped element lists joined, counter values dropped. */
export function normalizeRuleset(text: string): string[] {
  return (
    text
      .replace(/,\s*\n\s*/g, ', ') // nft wraps long element lists: one logical line each
      // …and lists interval sets in address order: compare the elements as a set.
      .replace(/elements = \{([^}]*)\}/g, (_, list: string) => `elements = { ${sortedElements(list)} }`)
      .split('\n')
      .map((l) =>
        l
          .trim()
          .replace(/\bcounter packets \d+ bytes \d+/g, 'counter')
          .replace(/\s+/g, ' '),
      )
      .filter((l) => l !== '')
  );
}

/**
 * Whether a listing of the table is exactly what fan renders for `nat` (counters aside). The key in the comment
 * alone would not notice a flushed chain or a rule deleted by hand.
 */
export function isRenderedTable(listing: string, nat: NatSpec, key: string): boolean {
  return normalizeRuleset(listing).join('\n') === normalizeRuleset(renderNftTable(nat, key)).join('\n');
}

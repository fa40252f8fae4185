/**
 * One grammar for a fan, shared by `fanctl up/down` arguments and /etc/network/fan lines. Both of Ubuntu's forms
 * are accepted, and may be mixed:
 *   new:  -o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp --dhcp-range 64 --bridge=NAME --host-reserve 2 --type vxlan
 *   old:  250.0.0.0/8 eth0/16 dhcp dhcp-range 250.3.4.200-250.3.4.254 host-reserve 2 bridge NAME off
 */
import {
  type Cidr,
  type Ipv4,
  formatCidr,
  formatIpv4,
  isIpv4,
  isNetworkAddress,
  network,
  parseCidr,
  parseIpv4,
  parsePrefixLength,
} from '../address/ipv4.js';
import { ConfigError } from '../errors.js';
import { checkOverlay, defineFan } from '../mapping/fan.js';
import { bridgeNameProblem } from '../names/ifname.js';

export const DATAPLANE_TYPES = ['vxlan', 'host-gw', 'vxlan-fast', 'host-gw-fast'] as const;
export type DataplaneType = (typeof DATAPLANE_TYPES)[number];

/** How the user named the underlay; resolved against the host's interfaces by `resolveUnderlay`. */
export type UnderlaySpec =
  /** `172.16.0.0/16` (find this host's address inside) or `172.16.3.4/16` (this address). */
  | { readonly kind: 'cidr'; readonly cidr: Cidr; readonly text: string }
  /** `eth0/16` or `eth0`: the interface's first IPv4 address; the prefix defaults to the interface's own. */
  | { readonly kind: 'interface'; readonly name: string; readonly prefix?: number; readonly text: string }
  /** `default/16`: the interface of the default route. */
  | { readonly kind: 'default'; readonly prefix?: number; readonly text: string };

/**
 * The DHCP share of the slice as the user wrote it; checked against the slice by `sliceLayout`
 * (src/core/mapping/layout.ts), which also gives the default when none is written.
 */
export type DhcpRangeSpec =
  /** `START-END`: these addresses (only valid on the host whose slice holds them). */
  | { readonly kind: 'range'; readonly start: Ipv4; readonly end: Ipv4; readonly text: string }
  /** `N`: the last N container addresses of the slice, on every host (suits a shared /etc/network/fan). */
  | { readonly kind: 'count'; readonly count: number; readonly text: string };

export interface FanSpec {
  readonly overlay: Cidr;
  readonly underlay: UnderlaySpec;
  readonly dhcp: boolean;
  /** Which addresses dnsmasq hands out (implies `dhcp`); absent: the default split of the layout. */
  readonly dhcpRange?: DhcpRangeSpec;
  readonly bridge?: string;
  /** Addresses at the start of the slice kept for the host (the first is the bridge/gateway). */
  readonly hostReserve: number;
  readonly type: DataplaneType;
  /** False for a config line marked `off`. */
  readonly enabled: boolean;
}

export const DEFAULT_HOST_RESERVE = 1;
const IFNAME = /^[A-Za-z0-9_.:-]{1,15}$/;

/** `15` → 15.0.0.0/8 (Ubuntu's shorthand); otherwise a CIDR. */
export function parseOverlay(text: string): Cidr {
  if (/^\d{1,3}$/.test(text)) {
    const first = Number(text);
    if (first > 255)
      throw new ConfigError(`overlay shorthand "${text}" is not an octet`, 'use 0-255, e.g. 250 for 250.0.0.0/8');
    return { address: first * 2 ** 24, prefix: 8 };
  }
  if (!text.includes('/')) {
    throw new ConfigError(
      `overlay "${text}" has no prefix length`,
      'write the overlay as a CIDR, e.g. 250.0.0.0/8, or as one octet, e.g. 250',
    );
  }
  const overlay = parseCidr(text);
  if (!isNetworkAddress(overlay)) {
    const net = formatCidr(network(overlay));
    throw new ConfigError(
      `overlay "${text}" is not a network: it has host bits set`,
      `write the network address, ${net} (an overlay names a whole range)`,
    );
  }
  return overlay;
}

export function parseUnderlay(text: string): UnderlaySpec {
  const [head = '', len, extra] = text.split('/');
  if (extra !== undefined || head === '') {
    throw new ConfigError(
      `underlay "${text}" is malformed`,
      'write NETWORK/LEN, ADDRESS/LEN, IFACE/LEN or default/LEN, e.g. 172.16.0.0/16 or eth0/16',
    );
  }
  const prefix = len === undefined ? undefined : parsePrefixLength(len);
  if (isIpv4(head) || /^[\d.]+$/.test(head)) {
    if (prefix === undefined) {
      throw new ConfigError(`underlay "${text}" has no prefix length`, `write it as ${head}/LEN, e.g. ${head}/16`);
    }
    return { kind: 'cidr', cidr: { address: parseIpv4(head), prefix }, text };
  }
  if (head === 'default') return { kind: 'default', ...(prefix === undefined ? {} : { prefix }), text };
  if (!IFNAME.test(head)) {
    throw new ConfigError(
      `underlay "${text}" is neither an address nor an interface name`,
      'write NETWORK/LEN, ADDRESS/LEN, IFACE/LEN or default/LEN',
    );
  }
  return { kind: 'interface', name: head, ...(prefix === undefined ? {} : { prefix }), text };
}

export function parseBridgeName(text: string): string {
  const problem = bridgeNameProblem(text);
  if (problem) {
    throw new ConfigError(
      `bridge name ${JSON.stringify(text)} is not a valid interface name: ${problem}`,
      'use 1-15 ASCII letters, digits, "-", "_" or ".", starting with a letter or digit, e.g. --bridge fan-250',
    );
  }
  return text;
}

export function parseHostReserve(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) {
    throw new ConfigError(
      `host-reserve "${text}" is not a positive whole number`,
      'host-reserve counts addresses kept for the host and includes the bridge address: use 1 or more',
    );
  }
  return Number(text);
}

/** `250.3.4.128-250.3.4.254` (two addresses, the first not after the second) or `64` (a count of addresses). */
export function parseDhcpRange(text: string): DhcpRangeSpec {
  const hint =
    "write --dhcp-range START-END with two addresses of this host's slice (e.g. " +
    '250.3.4.128-250.3.4.254), or a count N for the last N container addresses (e.g. 64)';
  if (/^\d+$/.test(text)) {
    const count = Number(text);
    if (count < 1 || !Number.isSafeInteger(count))
      throw new ConfigError(`dhcp-range "${text}" is not a positive count`, hint);
    return { kind: 'count', count, text: String(count) };
  }
  const parts = text.split('-');
  const [a, b] = parts;
  if (parts.length !== 2 || a === undefined || b === undefined || !isIpv4(a) || !isIpv4(b)) {
    throw new ConfigError(`dhcp-range "${text}" is neither START-END nor a count`, hint);
  }
  const start = parseIpv4(a);
  const end = parseIpv4(b);
  if (start > end)
    throw new ConfigError(`dhcp-range "${text}" starts after it ends`, `write the lower address first: ${b}-${a}`);
  return { kind: 'range', start, end, text: `${formatIpv4(start)}-${formatIpv4(end)}` };
}

export function parseType(text: string): DataplaneType {
  const t = DATAPLANE_TYPES.find((x) => x === text);
  if (!t) throw new ConfigError(`unknown fan type "${text}"`, `use one of: ${DATAPLANE_TYPES.join(', ')}`);
  return t;
}

/** Options that take a value, in every spelling, mapped to the field they set. */
type ValuedField = 'overlay' | 'underlay' | 'bridge' | 'hostReserve' | 'type' | 'dhcpRange';
const VALUED: Record<string, ValuedField> = {
  '-o': 'overlay',
  '--overlay': 'overlay',
  '-u': 'underlay',
  '--underlay': 'underlay',
  '--bridge': 'bridge',
  bridge: 'bridge',
  '-b': 'bridge',
  '--host-reserve': 'hostReserve',
  'host-reserve': 'hostReserve',
  '--type': 'type',
  type: 'type',
  '-t': 'type',
  '--dhcp-range': 'dhcpRange',
  'dhcp-range': 'dhcpRange',
};

const FIELD_WORD: Record<ValuedField, string> = {
  overlay: 'overlay',
  underlay: 'underlay',
  bridge: 'bridge',
  hostReserve: 'host-reserve',
  type: 'type',
  dhcpRange: 'dhcp-range',
};

const FIELD_OPTIONS: Record<ValuedField, string> = {
  overlay: '-o',
  underlay: '-u',
  bridge: '--bridge',
  hostReserve: '--host-reserve',
  type: '--type',
  dhcpRange: '--dhcp-range',
};

/** Parses one fan from words (command-line arguments or one config line split on white space). */
export function parseFanWords(words: readonly string[]): FanSpec {
  const set: Partial<Record<ValuedField, string>> = {};
  const positional: string[] = [];
  let dhcp = false;
  let enabled = true;
  const assign = (field: keyof typeof set, value: string | undefined, option: string): void => {
    if (value === undefined || value === '') throw new ConfigError(`${option} needs a value`, `write ${option} VALUE`);
    if (set[field] !== undefined) {
      // Even the same value twice: a repeated option is usually an edit gone wrong, and later ones must not win
      // silently.
      throw new ConfigError(
        `${FIELD_WORD[field]} is given twice ("${set[field]}" and "${value}")`,
        `give ${FIELD_OPTIONS[field]} once (remove one of the two)`,
      );
    }
    set[field] = value;
  };
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string;
    const eq = word.startsWith('--') ? word.indexOf('=') : -1;
    const name = eq > 0 ? word.slice(0, eq) : word;
    // Own keys only: a word such as `constructor` or `toString` must not find Object.prototype's members.
    const field = Object.hasOwn(VALUED, name) ? VALUED[name] : undefined;
    if (field) {
      assign(field, eq > 0 ? word.slice(eq + 1) : words[++i], name);
    } else if (word === 'dhcp' || word === '--dhcp') {
      dhcp = true;
    } else if (word === 'off' || word === '--off') {
      enabled = false;
    } else if (word.startsWith('-')) {
      throw new ConfigError(
        `unknown option "${word}"`,
        'known: -o OVERLAY -u UNDERLAY --dhcp --dhcp-range START-END|N ' +
          '--bridge NAME --host-reserve N --type ' +
          DATAPLANE_TYPES.join('|'),
      );
    } else {
      positional.push(word);
    }
  }
  // Old syntax: OVERLAY UNDERLAY as the first bare words (each only when not given as an option).
  for (const field of ['overlay', 'underlay'] as const) {
    if (set[field] === undefined && positional.length > 0) set[field] = positional.shift();
  }
  if (positional.length > 0) {
    throw new ConfigError(
      `unexpected word "${positional[0]}"`,
      'flags are: dhcp, dhcp-range START-END|N, off, host-reserve N, bridge NAME, type ' + DATAPLANE_TYPES.join('|'),
    );
  }
  if (set.overlay === undefined) throw new ConfigError('no overlay given', 'add -o OVERLAY, e.g. -o 250.0.0.0/8');
  if (set.underlay === undefined)
    throw new ConfigError('no underlay given', 'add -u UNDERLAY, e.g. -u 172.16.0.0/16 or -u eth0/16');
  const overlay = parseOverlay(set.overlay);
  const underlay = parseUnderlay(set.underlay);
  // Errors that need no host facts are reported now, before any I/O.
  if (underlay.kind === 'cidr') defineFan(overlay, underlay.cidr);
  else checkOverlay(overlay);
  const dhcpRange = set.dhcpRange === undefined ? undefined : parseDhcpRange(set.dhcpRange);
  return {
    overlay,
    underlay,
    dhcp: dhcp || dhcpRange !== undefined,
    ...(dhcpRange === undefined ? {} : { dhcpRange }),
    ...(set.bridge === undefined ? {} : { bridge: parseBridgeName(set.bridge) }),
    hostReserve: set.hostReserve === undefined ? DEFAULT_HOST_RESERVE : parseHostReserve(set.hostReserve),
    type: set.type === undefined ? 'vxlan' : parseType(set.type),
    enabled,
  };
}

/** Canonical words for a spec (the new syntax); parseFanWords(toFanWords(s)) equals s. */
export function toFanWords(spec: FanSpec): string[] {
  const words = ['-o', formatCidr(spec.overlay), '-u', spec.underlay.text];
  if (spec.dhcp) words.push('--dhcp');
  if (spec.dhcpRange !== undefined) words.push('--dhcp-range', spec.dhcpRange.text);
  if (spec.bridge !== undefined) words.push('--bridge', spec.bridge);
  if (spec.hostReserve !== DEFAULT_HOST_RESERVE) words.push('--host-reserve', String(spec.hostReserve));
  if (spec.type !== 'vxlan') words.push('--type', spec.type);
  if (!spec.enabled) words.push('off');
  return words;
}

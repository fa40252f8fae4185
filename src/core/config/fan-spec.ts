/**
 * One grammar for a fan, shared by `fanctl up/down` arguments and /etc/network/fan lines. Both of Ubuntu's forms
 * are accepted, and may be mixed:
 *   new:  -o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp --bridge=NAME --host-reserve 2 --type vxlan
 *   old:  250.0.0.0/8 eth0/16 dhcp host-reserve 2 bridge NAME off
 */
import { type Cidr, formatCidr, isIpv4, isNetworkAddress, network, parseCidr, parseIpv4, parsePrefixLength } from '../address/ipv4.js';
import { ConfigError } from '../errors.js';
import { checkOverlay, defineFan } from '../mapping/fan.js';
import { bridgeNameProblem } from '../names/ifname.js';

export const DATAPLANE_TYPES = ['vxlan', 'host-gw'] as const;
export type DataplaneType = (typeof DATAPLANE_TYPES)[number];

/** How the user named the underlay; resolved against the host's interfaces by `resolveUnderlay`. */
export type UnderlaySpec =
  /** `172.16.0.0/16` (find this host's address inside) or `172.16.3.4/16` (this address). */
  | { readonly kind: 'cidr'; readonly cidr: Cidr; readonly text: string }
  /** `eth0/16` or `eth0`: the interface's first IPv4 address; the prefix defaults to the interface's own. */
  | { readonly kind: 'interface'; readonly name: string; readonly prefix?: number; readonly text: string }
  /** `default/16`: the interface of the default route. */
  | { readonly kind: 'default'; readonly prefix?: number; readonly text: string };

export interface FanSpec {
  readonly overlay: Cidr;
  readonly underlay: UnderlaySpec;
  readonly dhcp: boolean;
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
    if (first > 255) throw new ConfigError(`overlay shorthand "${text}" is not an octet`, 'use 0-255, e.g. 250 for 250.0.0.0/8');
    return { address: first * 2 ** 24, prefix: 8 };
  }
  if (!text.includes('/')) {
    throw new ConfigError(`overlay "${text}" has no prefix length`, 'write the overlay as a CIDR, e.g. 250.0.0.0/8, or as one octet, e.g. 250');
  }
  const overlay = parseCidr(text);
  if (!isNetworkAddress(overlay)) {
    const net = formatCidr(network(overlay));
    throw new ConfigError(`overlay "${text}" is not a network: it has host bits set`, `write the network address, ${net} (an overlay names a whole range)`);
  }
  return overlay;
}

export function parseUnderlay(text: string): UnderlaySpec {
  const [head = '', len, extra] = text.split('/');
  if (extra !== undefined || head === '') {
    throw new ConfigError(`underlay "${text}" is malformed`, 'write NETWORK/LEN, ADDRESS/LEN, IFACE/LEN or default/LEN, e.g. 172.16.0.0/16 or eth0/16');
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
    throw new ConfigError(`underlay "${text}" is neither an address nor an interface name`, 'write NETWORK/LEN, ADDRESS/LEN, IFACE/LEN or default/LEN');
  }
  return { kind: 'interface', name: head, ...(prefix === undefined ? {} : { prefix }), text };
}

export function parseBridgeName(text: string): string {
  const problem = bridgeNameProblem(text);
  if (problem) {
    throw new ConfigError(`bridge name ${JSON.stringify(text)} is not a valid interface name: ${problem}`, 'use 1-15 ASCII letters, digits, "-", "_" or ".", starting with a letter or digit, e.g. --bridge fan-250');
  }
  return text;
}

export function parseHostReserve(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) {
    throw new ConfigError(`host-reserve "${text}" is not a positive whole number`, 'host-reserve counts addresses kept for the host and includes the bridge address: use 1 or more');
  }
  return Number(text);
}

export function parseType(text: string): DataplaneType {
  const t = DATAPLANE_TYPES.find((x) => x === text);
  if (!t) throw new ConfigError(`unknown fan type "${text}"`, `use one of: ${DATAPLANE_TYPES.join(', ')}`);
  return t;
}

/** Options that take a value, in every spelling, mapped to the field they set. */
const VALUED: Record<string, 'overlay' | 'underlay' | 'bridge' | 'hostReserve' | 'type'> = {
  '-o': 'overlay', '--overlay': 'overlay',
  '-u': 'underlay', '--underlay': 'underlay',
  '--bridge': 'bridge', bridge: 'bridge', '-b': 'bridge',
  '--host-reserve': 'hostReserve', 'host-reserve': 'hostReserve',
  '--type': 'type', type: 'type', '-t': 'type',
};

const FIELD_NAMES = { overlay: 'overlay', underlay: 'underlay', bridge: 'bridge', hostReserve: 'host-reserve', type: 'type' } as const;
const FIELD_OPTIONS = { overlay: '-o', underlay: '-u', bridge: '--bridge', hostReserve: '--host-reserve', type: '--type' } as const;

/** Parses one fan from words (command-line arguments or one config line split on white space). */
export function parseFanWords(words: readonly string[]): FanSpec {
  const set: Partial<Record<'overlay' | 'underlay' | 'bridge' | 'hostReserve' | 'type', string>> = {};
  const positional: string[] = [];
  let dhcp = false;
  let enabled = true;
  const assign = (field: keyof typeof set, value: string | undefined, option: string): void => {
    if (value === undefined || value === '') throw new ConfigError(`${option} needs a value`, `write ${option} VALUE`);
    if (set[field] !== undefined) {
      // Even the same value twice: a repeated option is usually an edit gone wrong, and later ones must not win silently.
      throw new ConfigError(`${FIELD_NAMES[field]} is given twice ("${set[field]}" and "${value}")`, `give ${FIELD_OPTIONS[field]} once (remove one of the two)`);
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
      throw new ConfigError(`unknown option "${word}"`, 'known: -o OVERLAY -u UNDERLAY --dhcp --bridge NAME --host-reserve N --type vxlan|host-gw');
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
      'flags are: dhcp, off, host-reserve N, bridge NAME, type vxlan|host-gw',
    );
  }
  if (set.overlay === undefined) throw new ConfigError('no overlay given', 'add -o OVERLAY, e.g. -o 250.0.0.0/8');
  if (set.underlay === undefined) throw new ConfigError('no underlay given', 'add -u UNDERLAY, e.g. -u 172.16.0.0/16 or -u eth0/16');
  const overlay = parseOverlay(set.overlay);
  const underlay = parseUnderlay(set.underlay);
  // Errors that need no host facts are reported now, before any I/O.
  if (underlay.kind === 'cidr') defineFan(overlay, underlay.cidr);
  else checkOverlay(overlay);
  return {
    overlay,
    underlay,
    dhcp,
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
  if (spec.bridge !== undefined) words.push('--bridge', spec.bridge);
  if (spec.hostReserve !== DEFAULT_HOST_RESERVE) words.push('--host-reserve', String(spec.hostReserve));
  if (spec.type !== 'vxlan') words.push('--type', spec.type);
  if (!spec.enabled) words.push('off');
  return words;
}


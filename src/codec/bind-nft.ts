/**
 * nftables table `bridge fan-bind`: the port binding of src/core/bind/binding.ts on the bridge prerouting hook,
 * before anything else sees a container's frame. A port in set `ports` (one fan attached) may send only with its
 * MAC (`macs`) and from its addresses (`bound`), ARP included; every port, fan's or not, is refused the addresses
 * of fan's ports (`addrs`) and the reserved ones (`reserved`). The key in the table comment covers the rules and
 * the reserved ranges; the elements change one attachment at a time (renderBindChange) and are compared as sets.
 */
import { formatIpv4 } from '../core/address/ipv4.js';
import type { AddressRange, BindTableSpec, PortBinding } from '../core/bind/binding.js';

export const BIND_TABLE = 'fan-bind';
const COMMENT = 'managed by fanctl; bind key';

/** Rule comments, in chain order: each counts its drops (status and metrics show them by comment). */
export const BIND_RULES = [
  'iifname @ports iifname . ether saddr != @macs counter drop comment "fan: MAC address not given to this port"',
  'iifname @ports ether type ip iifname . ' +
    'ip saddr != @bound counter drop comment "fan: source address not given to this port"',
  'iifname @ports ether type arp iifname . arp saddr ether != @macs counter drop comment "fan: ' +
    'ARP from a MAC address not given to this port"',
  'iifname @ports ether type arp arp saddr ip != 0.0.0.0 iifname . ' +
    'arp saddr ip != @bound counter drop comment "fan: ARP for an address not given to this port"',
  'ether type ip ip saddr @reserved counter drop comment "fan: reserved source address"',
  'ether type arp arp saddr ip @reserved counter drop comment "fan: ARP for a reserved address"',
  'iifname != @ports ether type ip ip saddr @addrs counter drop comment "fan: source address of another port"',
  'iifname != @ports ether type arp arp saddr ip @addrs counter drop comment "fan: ARP for an address of another port"',
] as const;

export const BIND_RULE_COMMENTS: readonly string[] = BIND_RULES.map((r) => /comment "([^"]*)"$/.exec(r)?.[1] ?? '');

const q = (name: string): string => `"${name.replace(/["\\]/g, '')}"`;
const range = (r: AddressRange): string =>
  r.first === r.last ? formatIpv4(r.first) : `${formatIpv4(r.first)}-${formatIpv4(r.last)}`;

/** The set elements of some bindings, by set. */
export interface BindElements {
  readonly ports: readonly string[];
  readonly macs: readonly string[];
  readonly bound: readonly string[];
  readonly addrs: readonly string[];
}

export function bindElements(bindings: readonly PortBinding[]): BindElements {
  return {
    ports: bindings.map((b) => q(b.port)),
    macs: bindings.map((b) => `${q(b.port)} . ${b.mac}`),
    bound: bindings.flatMap((b) => b.addresses.map((a) => `${q(b.port)} . ${formatIpv4(a)}`)),
    addrs: bindings.flatMap((b) => b.addresses.map(formatIpv4)),
  };
}

const SETS: readonly { name: keyof BindElements; type: string }[] = [
  { name: 'ports', type: 'ifname' },
  { name: 'macs', type: 'ifname . ether_addr' },
  { name: 'bound', type: 'ifname . ipv4_addr' },
  { name: 'addrs', type: 'ipv4_addr' },
];

export function renderBindTable(spec: BindTableSpec, key: string): string {
  const elements = bindElements(spec.bindings);
  const list = (items: readonly string[]): string[] =>
    items.length > 0 ? [`\t\telements = { ${items.join(', ')} }`] : [];
  const lines = [
    `table bridge ${BIND_TABLE} {`,
    `\tcomment "${COMMENT} ${key}"`,
    ...SETS.flatMap((s) => [`\tset ${s.name} {`, `\t\ttype ${s.type}`, ...list(elements[s.name]), '\t}']),
    '\tset reserved {',
    '\t\ttype ipv4_addr',
    '\t\tflags interval',
    ...list(spec.reserved.map(range)),
    '\t}',
    '\tchain prerouting {',
    '\t\ttype filter hook prerouting priority -200; policy accept;',
    ...BIND_RULES.map((r) => `\t\t${r}`),
    '\t}',
    '}',
  ];
  return `${lines.join('\n')}\n`;
}

/** Creates-if-absent, deletes and defines the table in one transaction. */
export function renderBindReplace(spec: BindTableSpec, key: string): string {
  return `table bridge ${BIND_TABLE}\ndelete table bridge ${BIND_TABLE}\n${renderBindTable(spec, key)}`;
}

export function renderBindRemove(): string {
  return `table bridge ${BIND_TABLE}\ndelete table bridge ${BIND_TABLE}\n`;
}

/** One statement per set: `add element …` or `delete element …` (empty when there is nothing to change). */
export function renderBindChange(op: 'add' | 'delete', bindings: readonly PortBinding[]): string[] {
  return elementStatements(op, bindElements(bindings));
}

/** The key in the table's comment (`nft list table bridge fan-bind`), or undefined when it is not fan's. */
export function decodeBindKey(listing: string): string | undefined {
  return new RegExp(`^\\s*comment "${COMMENT} ([0-9a-f]+)"$`, 'm').exec(listing)?.[1];
}

export interface BindTableContent {
  readonly elements: BindElements;
  /** Comments of the table's rules, in order. */
  readonly rules: readonly string[];
  readonly counters: readonly { readonly rule: string; readonly packets: number; readonly bytes: number }[];
}

interface JsonSet {
  name?: string;
  elem?: unknown[];
}
interface JsonRule {
  comment?: string;
  expr?: { counter?: { packets: number; bytes: number } }[];
}

function elementText(set: string, e: unknown): string {
  if (typeof e === 'string') return set === 'ports' ? q(e) : e;
  const concat = (e as { concat?: unknown[] }).concat;
  if (Array.isArray(concat) && concat.length === 2) return `${q(String(concat[0]))} . ${String(concat[1])}`;
  return JSON.stringify(e);
}

/** Reads `nft -j list table bridge fan-bind`: the elements in the form renderBindChange writes them, the rules. */
export function decodeBindJson(json: string): BindTableContent {
  const items = (JSON.parse(json) as { nftables?: { set?: JsonSet; rule?: JsonRule }[] }).nftables ?? [];
  const elements: Record<keyof BindElements, string[]> = { ports: [], macs: [], bound: [], addrs: [] };
  const rules: string[] = [];
  const counters: { rule: string; packets: number; bytes: number }[] = [];
  for (const item of items) {
    const set = item.set;
    if (set?.name !== undefined && set.name in elements) {
      const name = set.name as keyof BindElements;
      elements[name] = (set.elem ?? []).map((e) => elementText(name, e));
    }
    if (item.rule) {
      const rule = item.rule.comment ?? '';
      rules.push(rule);
      const c = item.rule.expr?.find((e) => e.counter !== undefined)?.counter;
      if (c) counters.push({ rule: rule.replace(/^fan:\s*/, ''), packets: c.packets, bytes: c.bytes });
    }
  }
  return { elements, rules, counters };
}

const sorted = (items: readonly string[]): string => [...new Set(items)].sort().join('\n');

/** Whether the table read back holds exactly the rules and elements fan renders for `bindings`. */
export function isBindContent(content: BindTableContent, bindings: readonly PortBinding[]): boolean {
  const want = bindElements(bindings);
  return (
    content.rules.join('\n') === BIND_RULE_COMMENTS.join('\n') &&
    SETS.every((s) => sorted(content.elements[s.name]) === sorted(want[s.name]))
  );
}

/**
 * The statements that take the table from holding `before` to holding `after` for the ports concerned: elements
 * in both stay untouched (a delete and re-add would open a moment without them).
 */
export function renderBindDiff(
  before: readonly PortBinding[],
  after: readonly PortBinding[],
): { readonly remove: string[]; readonly add: string[] } {
  const was = bindElements(before);
  const now = bindElements(after);
  const minus = (a: BindElements, b: BindElements): BindElements => ({
    ports: a.ports.filter((e) => !b.ports.includes(e)),
    macs: a.macs.filter((e) => !b.macs.includes(e)),
    bound: a.bound.filter((e) => !b.bound.includes(e)),
    addrs: a.addrs.filter((e) => !b.addrs.includes(e)),
  });
  return { remove: elementStatements('delete', minus(was, now)), add: elementStatements('add', minus(now, was)) };
}

function elementStatements(op: 'add' | 'delete', elements: BindElements): string[] {
  const order: (keyof BindElements)[] =
    op === 'add' ? ['addrs', 'bound', 'macs', 'ports'] : ['ports', 'macs', 'bound', 'addrs'];
  return order
    .filter((name) => elements[name].length > 0)
    .map((name) => `${op} element bridge ${BIND_TABLE} ${name} { ${[...new Set(elements[name])].join(', ')} }`);
}

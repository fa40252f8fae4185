/**
 * fan's policy table as ONE `nft -f` script: `table ip fan-policy` (the group filter on the forward hook and the
 * DNAT of exposed ports). The script creates-if-absent, deletes and redefines it in one transaction, so traffic never
 * sees a moment without a policy or with half of one. It also deletes `table bridge fan-policy`, where older versions
 * bound ports to their addresses: that is table `bridge fan-bind` now (src/codec/bind-nft.ts), always on, which the
 * policy relies on (a group is an address range, so a container must not pick its source address).
 * Each table's comment marks it fan's and carries the policy's content hash.
 */
import { formatCidr, formatIpv4 } from '../core/address/ipv4.js';
import type { CompiledPolicy, NftAction, NftChain, NftMatch, NftRule, NftVerdict } from '../core/policy/compile.js';

export const POLICY_TABLE = 'fan-policy';
const COMMENT_PREFIX = 'managed by fanctl policy; hash';

const verdict = (v: NftVerdict): string => (v.kind === 'jump' ? `jump ${v.chain}` : v.kind);
const index = (n: number): string => formatIpv4(n);
const quote = (text: string): string => `"${text.replace(/["\\]/g, '')}"`;

const anonymous = (items: readonly string[]): string =>
  items.length === 1 ? (items[0] ?? '') : `{ ${items.join(', ')} }`;

function match(m: NftMatch): string {
  if (m.kind === 'in') return `ip ${m.field} ${anonymous(m.cidrs.map(formatCidr))}`;
  if (m.kind === 'not-in') return `ip ${m.field} != ${anonymous(m.cidrs.map(formatCidr))}`;
  if (m.kind === 'index-in')
    return `ip ${m.field} & ${formatIpv4(m.mask)} ${anonymous(m.ranges.map(([a, b]) => (a === b ? index(a) : `${index(a)}-${index(b)}`)))}`;
  const proto = `meta l4proto ${m.proto}`;
  if (m.ports === undefined || m.ports.length === 0) return proto;
  const ports = m.ports.map(([a, b]) => (a === b ? String(a) : `${a}-${b}`));
  return `${proto} th dport ${ports.length === 1 ? ports[0] : `{ ${ports.join(', ')} }`}`;
}

function action(a: NftAction): string {
  switch (a.kind) {
    case 'verdict':
      return verdict(a.verdict);
    case 'index-vmap':
      return `ip ${a.field} & ${formatIpv4(a.mask)} vmap { ${a.entries.map((e) => `${e.first === e.last ? index(e.first) : `${index(e.first)}-${index(e.last)}`} : ${verdict(e.verdict)}`).join(', ')} }`;
    case 'cidr-vmap':
      return `ip ${a.field} vmap { ${a.entries.map((e) => `${formatCidr(e.cidr)} : ${verdict(e.verdict)}`).join(', ')} }`;
    case 'pair-vmap':
      return `ip saddr . ip daddr vmap { ${a.entries.map((e) => `${formatIpv4(e.a)} . ${formatIpv4(e.b)} : ${verdict(e.verdict)}`).join(', ')} }`;
  }
}

function rule(r: NftRule): string {
  return [
    ...r.matches.map(match),
    ...(r.counter ? ['counter'] : []),
    action(r.action),
    ...(r.comment !== undefined ? [`comment ${quote(r.comment)}`] : []),
  ].join(' ');
}

function chain(c: NftChain, head: readonly string[] = []): string[] {
  return [`\tchain ${c.name} {`, ...head.map((h) => `\t\t${h}`), ...c.rules.map((r) => `\t\t${rule(r)}`), '\t}'];
}

const elements = (items: readonly string[]): string[] =>
  items.length > 0 ? [`\t\telements = { ${items.join(', ')} }`] : [];

export function renderPolicyTables(compiled: CompiledPolicy): string {
  // Chains jump only to chains defined before them: the entry chain goes last, the base chains after it.
  const inner = compiled.chains.filter((c) => c.name !== compiled.entry);
  const entry = compiled.chains.find((c) => c.name === compiled.entry);
  const ip = [
    `table ip ${POLICY_TABLE} {`,
    `\tcomment "${COMMENT_PREFIX} ${compiled.hash}"`,
    '\tset bridges {',
    '\t\ttype ifname',
    ...elements(compiled.bridges.map(quote)),
    '\t}',
    // Exposed ports are map elements: one DNAT rule however many ports are exposed.
    '\tmap exposed {',
    '\t\ttype ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service',
    ...elements(
      compiled.dnat.map(
        (d) => `${formatIpv4(d.hostAddress)} . ${d.proto} . ${d.port} : ${formatIpv4(d.to)} . ${d.toPort}`,
      ),
    ),
    '\t}',
    ...inner.flatMap((c) => chain(c)),
    ...(entry ? chain(entry) : []),
    ...chain(
      {
        name: 'forward',
        rules: [],
      },
      [
        'type filter hook forward priority filter - 10; policy accept;',
        'iifname != @bridges oifname != @bridges accept comment "fan: not to or from a fan bridge"',
        'ct state established,related counter accept comment "fan: replies of allowed connections"',
        'ct status dnat counter accept comment "fan: connections to exposed ports"',
        `jump ${compiled.entry}`,
      ],
    ),
    ...chain({ name: 'prerouting', rules: [] }, [
      'type nat hook prerouting priority dstnat; policy accept;',
      'ip daddr . meta l4proto . th dport @exposed counter dnat ip to ip daddr . meta l4proto . th dport map @exposed comment "fan: DNAT of exposed ports"',
    ]),
    '}',
  ];
  return `${ip.join('\n')}\n`;
}

/** Replaces both tables in one transaction (creating them first makes the delete safe when they are absent). */
export function renderPolicyReplace(compiled: CompiledPolicy): string {
  return `${removeLines().join('\n')}\n${renderPolicyTables(compiled)}`;
}

function removeLines(): string[] {
  return [
    `table ip ${POLICY_TABLE}`,
    `delete table ip ${POLICY_TABLE}`,
    `table bridge ${POLICY_TABLE}`,
    `delete table bridge ${POLICY_TABLE}`,
  ];
}

/** Removes both tables, whether or not they exist, in one transaction. */
export function renderPolicyRemove(): string {
  return `${removeLines().join('\n')}\n`;
}

/** The hash in a table's comment (`nft list table ip fan-policy`), or undefined when it is not fan's. */
export function decodePolicyHash(listing: string): string | undefined {
  return /^\s*comment "managed by fanctl policy; hash ([0-9a-f]+)"$/m.exec(listing)?.[1];
}

/**
 * Rules in a rendered script: every statement line inside a chain, not the hook declarations. The scale tests
 * count them; the number must not change with the number of hosts or containers.
 */
export function countRules(script: string): number {
  let inChain = false;
  let count = 0;
  for (const raw of script.split('\n')) {
    const line = raw.trim();
    if (/^chain \S+ \{$/.test(line)) inChain = true;
    else if (line === '}') inChain = false;
    else if (inChain && line !== '' && !line.startsWith('type ')) count++;
  }
  return count;
}

/**
 * Compiles a policy for THIS host into nftables structure: chains whose rules look groups up in verdict maps keyed
 * by the container index (`ip daddr & 0.0.0.255`) or by CIDR. The rule count depends on the number of groups,
 * rules and fans on this host; never on the number of hosts or containers (no address of a host or container
 * appears, except connect/disconnect pairs and exposed ports, which are set elements the operator wrote).
 *
 * Chains (all in fan's own policy table, see src/codec/policy-nft.ts):
 *   classify        connect/disconnect pairs, host destinations, then the source group (index vmap per overlay,
 *                   CIDR vmap, else outside) → from_<G>
 *   from_<G>        the deny and allow rules of source group G, in order (destination group and ports, each
 *                   counted), then within group / default by the destination's group
 *   v_host, v_within, v_default, v_connect_<i>, v_disconnect_<i>   counted verdicts
 * Few chains and no chain per pair of groups: nft loads 20 groups and 200 rules in one quick transaction.
 * `evaluateCompiled` interprets this structure; the tests check that it agrees with `checkPolicy`.
 */
import { createHash } from 'node:crypto';
import { type Cidr, type Ipv4, contains, formatCidr, formatIpv4, hostMask, u32 } from '../address/ipv4.js';
import {
  type PolicyFan,
  type PolicyGeometry,
  checkGeometry,
  describePair,
  describeRule,
  HOST_RULE,
  sliceSize,
} from './evaluate.js';
import { ANY, type GroupRule, type L4Proto, OUTSIDE, type Policy, UNGROUPED } from './model.js';

export type NftVerdict =
  | { readonly kind: 'accept' }
  | { readonly kind: 'drop' }
  | { readonly kind: 'jump'; readonly chain: string };

export type AddrField = 'saddr' | 'daddr';

export type NftMatch =
  | { readonly kind: 'in'; readonly field: AddrField; readonly cidrs: readonly Cidr[] }
  | { readonly kind: 'not-in'; readonly field: AddrField; readonly cidrs: readonly Cidr[] }
  /** `ip F & MASK { ranges }`: the container index is in one of the ranges. */
  | {
      readonly kind: 'index-in';
      readonly field: AddrField;
      readonly mask: Ipv4;
      readonly ranges: readonly (readonly [number, number])[];
    }
  /** `meta l4proto P` and, for tcp/udp, `th dport { ranges }`. */
  | { readonly kind: 'l4'; readonly proto: L4Proto; readonly ports?: readonly (readonly [number, number])[] };

export interface IndexEntry {
  readonly first: number;
  readonly last: number;
  readonly verdict: NftVerdict;
}

export type NftAction =
  | { readonly kind: 'verdict'; readonly verdict: NftVerdict }
  | {
      readonly kind: 'index-vmap';
      readonly field: AddrField;
      readonly mask: Ipv4;
      readonly entries: readonly IndexEntry[];
    }
  | {
      readonly kind: 'cidr-vmap';
      readonly field: AddrField;
      readonly entries: readonly { readonly cidr: Cidr; readonly verdict: NftVerdict }[];
    }
  | {
      readonly kind: 'pair-vmap';
      readonly entries: readonly { readonly a: Ipv4; readonly b: Ipv4; readonly verdict: NftVerdict }[];
    };

export interface NftRule {
  readonly matches: readonly NftMatch[];
  readonly action: NftAction;
  /** Counted rules carry a counter; the comment names the policy rule. */
  readonly counter: boolean;
  readonly comment?: string;
}

export interface NftChain {
  readonly name: string;
  readonly rules: readonly NftRule[];
}

/** This host: its fans (geometry, bridge, slice, underlay address). */
export interface PolicyHostFan extends PolicyFan {
  readonly bridge: string;
  readonly slice: Cidr;
  readonly underlayHost: Ipv4;
}

export interface PolicyHost {
  readonly fans: readonly PolicyHostFan[];
}

export interface DnatRule {
  readonly proto: 'tcp' | 'udp';
  readonly hostAddress: Ipv4;
  readonly port: number;
  readonly to: Ipv4;
  readonly toPort: number;
  readonly comment: string;
}

export interface CompiledPolicy {
  /** Same policy, same hash, on every host: operators compare it across the fleet. */
  readonly hash: string;
  readonly bridges: readonly string[];
  /** The chain the forward hook jumps to for new connections on fan bridges. */
  readonly entry: string;
  readonly chains: readonly NftChain[];
  readonly dnat: readonly DnatRule[];
}

const accept: NftVerdict = { kind: 'accept' };
const drop: NftVerdict = { kind: 'drop' };
const jump = (chain: string): NftVerdict => ({ kind: 'jump', chain });

/** The semantic content of a policy (no lines, no file name), in a canonical order: the input of the hash. */
export function canonicalPolicy(policy: Policy): unknown {
  const rule = (r: GroupRule): unknown => ({ from: r.from, to: r.to, ports: r.ports });
  return {
    default: policy.default,
    groups: [...policy.groups]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((g) =>
        g.kind === 'index'
          ? { name: g.name, index: [g.first, g.last] }
          : { name: g.name, cidr: g.cidrs.map(formatCidr) },
      ),
    allow: policy.allow.map(rule),
    deny: policy.deny.map(rule),
    connect: policy.connect.map((p) => [formatIpv4(p.a), formatIpv4(p.b)]),
    disconnect: policy.disconnect.map((p) => [formatIpv4(p.a), formatIpv4(p.b)]),
    expose: policy.expose.map((e) => ({ proto: e.proto, port: e.port, to: `${formatIpv4(e.to)}:${e.toPort}` })),
    namespaces: [...policy.namespaces].sort(([a], [b]) => a.localeCompare(b)),
  };
}

export function policyHash(policy: Policy): string {
  return createHash('sha256')
    .update(JSON.stringify(canonicalPolicy(policy)))
    .digest('hex')
    .slice(0, 16);
}

export const ENTRY_CHAIN = 'classify';
const fromChain = (g: string): string => `from_${g}`;

/** Every group an address can be in: the defined ones, then ungrouped and outside. */
export function groupNames(policy: Policy): string[] {
  return [...policy.groups.map((g) => g.name), UNGROUPED, OUTSIDE];
}

function l4Matches(rule: GroupRule): NftMatch[] {
  const byProto = new Map<L4Proto, [number, number][]>();
  for (const p of rule.ports) {
    const list = byProto.get(p.proto) ?? [];
    if (p.from !== undefined) list.push([p.from, p.to ?? p.from]);
    byProto.set(p.proto, list);
  }
  return [...byProto].map(([proto, ports]) =>
    proto === 'icmp' ? { kind: 'l4', proto } : { kind: 'l4', proto, ports },
  );
}

export function compilePolicy(policy: Policy, host: PolicyHost): CompiledPolicy {
  const geometry: PolicyGeometry = { fans: host.fans };
  checkGeometry(policy, geometry);
  const chains: NftChain[] = [];
  const counted = (name: string, verdict: NftVerdict, comment: string): void => {
    chains.push({ name, rules: [{ matches: [], action: { kind: 'verdict', verdict }, counter: true, comment }] });
  };
  counted('v_host', accept, HOST_RULE);
  counted('v_within', accept, 'within group');
  counted('v_default', policy.default === 'open' ? accept : drop, `default ${policy.default}`);
  const pairs = [
    ...policy.disconnect.map((p, i) => ({
      p,
      chain: `v_disconnect_${i}`,
      verdict: drop,
      text: describePair('disconnect', p),
    })),
    ...policy.connect.map((p, i) => ({
      p,
      chain: `v_connect_${i}`,
      verdict: accept,
      text: describePair('connect', p),
    })),
  ];
  for (const x of pairs) counted(x.chain, x.verdict, `${x.text} (line ${x.p.line})`);

  const names = groupNames(policy);
  const cidrGroups = policy.groups.flatMap((g) =>
    g.kind === 'cidr' ? g.cidrs.map((cidr) => ({ cidr, group: g.name })) : [],
  );
  /** Classifies `field` and hands each group to `target`. */
  const classifyRules = (field: AddrField, target: (group: string) => NftVerdict): NftRule[] => {
    const rules: NftRule[] = host.fans.map((fan) => ({
      matches: [{ kind: 'in', field, cidrs: [fan.overlay] }],
      action: {
        kind: 'index-vmap',
        field,
        mask: hostMask(fan.slicePrefix),
        entries: indexEntries(policy, fan, target),
      },
      counter: false,
    }));
    if (cidrGroups.length > 0) {
      rules.push({
        matches: [],
        action: {
          kind: 'cidr-vmap',
          field,
          entries: cidrGroups.map((c) => ({ cidr: c.cidr, verdict: target(c.group) })),
        },
        counter: false,
      });
    }
    rules.push({ matches: [], action: { kind: 'verdict', verdict: target(OUTSIDE) }, counter: false });
    return rules;
  };
  /** The ways an address can be in group `name`, each a list of matches (any one suffices). */
  const membership = (field: AddrField, name: string): NftMatch[][] => {
    if (name === ANY) return [[]];
    if (name === OUTSIDE)
      return [
        [{ kind: 'not-in', field, cidrs: [...host.fans.map((f) => f.overlay), ...cidrGroups.map((c) => c.cidr)] }],
      ];
    const g = policy.groups.find((x) => x.name === name);
    if (g?.kind === 'cidr') return [[{ kind: 'in', field, cidrs: g.cidrs }]];
    return host.fans.flatMap((fan) => {
      const ranges = indexEntries(policy, fan, (group) => (group === name ? accept : drop))
        .filter((e) => e.verdict.kind === 'accept')
        .map((e) => [e.first, e.last] as const);
      return ranges.length > 0
        ? [
            [
              { kind: 'in', field, cidrs: [fan.overlay] },
              { kind: 'index-in', field, mask: hostMask(fan.slicePrefix), ranges },
            ],
          ]
        : [];
    });
  };
  /** Deny then allow rules, in order, as rules of the chain of source group g: destination group, then ports. */
  const ruleRules = (g: string): NftRule[] =>
    (['deny', 'allow'] as const).flatMap((kind) =>
      policy[kind].flatMap((rule) => {
        if (rule.from !== ANY && rule.from !== g) return [];
        const comment = `${describeRule(kind, rule)} (line ${rule.line})`;
        const ports: NftMatch[][] = rule.ports.length === 0 ? [[]] : l4Matches(rule).map((m) => [m]);
        return membership('daddr', rule.to).flatMap((dst) =>
          ports.map(
            (l4) =>
              ({
                matches: [...dst, ...l4],
                action: { kind: 'verdict', verdict: kind === 'allow' ? accept : drop },
                counter: true,
                comment,
              }) satisfies NftRule,
          ),
        );
      }),
    );

  const entry: NftRule[] = [];
  if (pairs.length > 0)
    entry.push({ matches: [], action: { kind: 'pair-vmap', entries: pairEntries(pairs) }, counter: false });
  // A destination that is a host address passes before any rule (as in checkPolicy); a host source is in the vmap.
  for (const fan of host.fans) {
    const hostIndexes = indexEntries(policy, fan, () => drop)
      .filter((e) => e.verdict.kind === 'jump')
      .map((e) => [e.first, e.last] as const);
    entry.push({
      matches: [
        { kind: 'in', field: 'daddr', cidrs: [fan.overlay] },
        { kind: 'index-in', field: 'daddr', mask: hostMask(fan.slicePrefix), ranges: hostIndexes },
      ],
      action: { kind: 'verdict', verdict: jump('v_host') },
      counter: false,
    });
  }
  for (const g of names) {
    chains.push({
      name: fromChain(g),
      rules: [...ruleRules(g), ...classifyRules('daddr', (h) => jump(h === g ? 'v_within' : 'v_default'))],
    });
  }
  chains.push({ name: ENTRY_CHAIN, rules: [...entry, ...classifyRules('saddr', (g) => jump(fromChain(g)))] });

  const dnat: DnatRule[] = policy.expose.flatMap((e) => {
    const fan = host.fans.find((f) => contains(f.slice, e.to));
    return fan
      ? [
          {
            proto: e.proto,
            hostAddress: fan.underlayHost,
            port: e.port,
            to: e.to,
            toPort: e.toPort,
            comment: `expose ${e.proto}/${e.port} to ${formatIpv4(e.to)}:${e.toPort} (line ${e.line})`,
          },
        ]
      : [];
  });
  return {
    hash: policyHash(policy),
    bridges: host.fans.map((f) => f.bridge),
    entry: ENTRY_CHAIN,
    chains,
    dnat,
  };
}

/** Both directions of every pair; the first mention of an ordered pair wins, as in checkPolicy. */
function pairEntries(
  pairs: readonly { p: { a: Ipv4; b: Ipv4 }; chain: string }[],
): { a: Ipv4; b: Ipv4; verdict: NftVerdict }[] {
  const seen = new Set<string>();
  const out: { a: Ipv4; b: Ipv4; verdict: NftVerdict }[] = [];
  for (const x of pairs) {
    for (const [a, b] of [
      [x.p.a, x.p.b],
      [x.p.b, x.p.a],
    ] as const) {
      const key = `${a}.${b}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ a, b, verdict: jump(x.chain) });
    }
  }
  return out;
}

/** A partition of the whole index space of `fan`'s slices: host indexes, each group's range, and the gaps. */
function indexEntries(policy: Policy, fan: PolicyFan, target: (group: string) => NftVerdict): IndexEntry[] {
  const size = sliceSize(fan);
  const cuts: { first: number; last: number; verdict: NftVerdict }[] = [];
  const ranges = policy.groups.flatMap((g) => (g.kind === 'index' ? [g] : [])).sort((a, b) => a.first - b.first);
  const host = jump('v_host');
  const lowHost = Math.min(fan.hostReserve, size - 1);
  cuts.push({ first: 0, last: lowHost, verdict: host });
  let next = lowHost + 1;
  const ungrouped = target(UNGROUPED);
  for (const r of ranges) {
    const first = Math.max(r.first, next);
    const last = Math.min(r.last, size - 2);
    if (first > last) continue;
    if (first > next) cuts.push({ first: next, last: first - 1, verdict: ungrouped });
    cuts.push({ first, last, verdict: target(r.name) });
    next = last + 1;
  }
  if (next <= size - 2) cuts.push({ first: next, last: size - 2, verdict: ungrouped });
  if (size - 1 > lowHost) cuts.push({ first: size - 1, last: size - 1, verdict: host });
  return cuts;
}

/** A packet as the evaluator sees it: a new connection on a fan bridge. */
export interface Packet {
  readonly saddr: Ipv4;
  readonly daddr: Ipv4;
  readonly proto: L4Proto | 'other';
  readonly dport?: number;
}

/** Interprets the compiled chains for one packet: the final verdict and the counted chain that gave it. */
export function evaluateCompiled(
  compiled: CompiledPolicy,
  packet: Packet,
): { readonly verdict: 'accept' | 'drop'; readonly chain: string; readonly comment?: string } {
  const byName = new Map(compiled.chains.map((c) => [c.name, c]));
  const run = (
    name: string,
    depth: number,
  ): { verdict: 'accept' | 'drop'; chain: string; comment?: string } | undefined => {
    const chain = byName.get(name);
    if (!chain || depth > 16) throw new Error(`evaluator: no chain ${name}`);
    for (const rule of chain.rules) {
      if (!rule.matches.every((m) => matchOne(m, packet))) continue;
      const verdict = actionVerdict(rule.action, packet);
      if (verdict === undefined) continue;
      if (verdict.kind === 'jump') {
        const out = run(verdict.chain, depth + 1);
        if (out) return out;
        continue;
      }
      return { verdict: verdict.kind, chain: name, ...(rule.comment !== undefined ? { comment: rule.comment } : {}) };
    }
    return undefined;
  };
  return run(compiled.entry, 0) ?? { verdict: 'accept', chain: '(policy accept)' };
}

function matchOne(m: NftMatch, p: Packet): boolean {
  const address = m.kind === 'l4' ? 0 : m.field === 'saddr' ? p.saddr : p.daddr;
  if (m.kind === 'in') return m.cidrs.some((c) => contains(c, address));
  if (m.kind === 'not-in') return !m.cidrs.some((c) => contains(c, address));
  if (m.kind === 'index-in') {
    const index = u32(address & m.mask);
    return m.ranges.some(([a, b]) => index >= a && index <= b);
  }
  if (p.proto !== m.proto) return false;
  if (m.ports === undefined) return true;
  return p.dport !== undefined && m.ports.some(([a, b]) => p.dport !== undefined && p.dport >= a && p.dport <= b);
}

function actionVerdict(a: NftAction, p: Packet): NftVerdict | undefined {
  switch (a.kind) {
    case 'verdict':
      return a.verdict;
    case 'index-vmap': {
      const index = u32((a.field === 'saddr' ? p.saddr : p.daddr) & a.mask);
      return a.entries.find((e) => index >= e.first && index <= e.last)?.verdict;
    }
    case 'cidr-vmap':
      return a.entries.find((e) => contains(e.cidr, a.field === 'saddr' ? p.saddr : p.daddr))?.verdict;
    case 'pair-vmap':
      return a.entries.find((e) => e.a === p.saddr && e.b === p.daddr)?.verdict;
  }
}

/** The policy's fan geometry for this host's fans. */
export function geometryOf(host: PolicyHost): PolicyGeometry {
  return { fans: host.fans };
}

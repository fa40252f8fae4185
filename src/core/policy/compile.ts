/**
 * Compiles a policy for THIS host into nftables structure: chains whose rules look groups up in verdict maps keyed
 * by the container index (`ip daddr & 0.0.0.255`) or by CIDR. The rule count depends on the number of groups,
 * rules and fans on this host; never on the number of hosts or containers (no address of a host or container
 * appears, except connect/disconnect pairs and exposed ports, which are set elements the operator wrote).
 *
 * Chains (all in fan's own policy table, see src/codec/policy-nft.ts):
 *   classify        connect/disconnect pairs → source group (index vmap per overlay, CIDR vmap, else outside)
 *   from_<G>        for source group G: destination group → the verdict of the pair (G, H)
 *   p_<G>__<H>      only for pairs with port-conditional rules: each rule's ports, then the pair's final verdict
 *   r_allow_<i>     one per rule, counting its packets (also v_host, v_connect, v_disconnect, v_within, v_default)
 * `evaluateCompiled` interprets this structure; the tests check that it agrees with `checkPolicy`.
 */
import { createHash } from 'node:crypto';
import { type Cidr, type Ipv4, contains, formatCidr, formatIpv4, hostMask, u32 } from '../address/ipv4.js';
import { type PolicyFan, type PolicyGeometry, checkGeometry, describePair, describeRule, HOST_RULE, sliceSize } from './evaluate.js';
import { ANY, type GroupRule, type L4Proto, OUTSIDE, type Policy, UNGROUPED } from './model.js';

export type NftVerdict = { readonly kind: 'accept' } | { readonly kind: 'drop' } | { readonly kind: 'jump'; readonly chain: string };

export type AddrField = 'saddr' | 'daddr';

export type NftMatch =
  | { readonly kind: 'in'; readonly field: AddrField; readonly cidr: Cidr }
  /** `meta l4proto P` and, for tcp/udp, `th dport { ranges }`. */
  | { readonly kind: 'l4'; readonly proto: L4Proto; readonly ports?: readonly (readonly [number, number])[] };

export interface IndexEntry {
  readonly first: number;
  readonly last: number;
  readonly verdict: NftVerdict;
}

export type NftAction =
  | { readonly kind: 'verdict'; readonly verdict: NftVerdict }
  | { readonly kind: 'index-vmap'; readonly field: AddrField; readonly mask: Ipv4; readonly entries: readonly IndexEntry[] }
  | { readonly kind: 'cidr-vmap'; readonly field: AddrField; readonly entries: readonly { readonly cidr: Cidr; readonly verdict: NftVerdict }[] }
  | { readonly kind: 'pair-vmap'; readonly entries: readonly { readonly a: Ipv4; readonly b: Ipv4; readonly verdict: NftVerdict }[] };

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

/** Bridge ports bound to the addresses they were given (anti-spoofing inside the slice). */
export interface PortBinding {
  readonly port: string;
  readonly address: Ipv4;
}

export interface CompiledPolicy {
  /** Same policy, same hash, on every host: operators compare it across the fleet. */
  readonly hash: string;
  readonly bridges: readonly string[];
  /** The chain the forward hook jumps to for new connections on fan bridges. */
  readonly entry: string;
  readonly chains: readonly NftChain[];
  readonly dnat: readonly DnatRule[];
  readonly bindings: readonly PortBinding[];
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
      .map((g) => (g.kind === 'index' ? { name: g.name, index: [g.first, g.last] } : { name: g.name, cidr: g.cidrs.map(formatCidr) })),
    allow: policy.allow.map(rule),
    deny: policy.deny.map(rule),
    connect: policy.connect.map((p) => [formatIpv4(p.a), formatIpv4(p.b)]),
    disconnect: policy.disconnect.map((p) => [formatIpv4(p.a), formatIpv4(p.b)]),
    expose: policy.expose.map((e) => ({ proto: e.proto, port: e.port, to: `${formatIpv4(e.to)}:${e.toPort}` })),
    namespaces: [...policy.namespaces].sort(([a], [b]) => a.localeCompare(b)),
  };
}

export function policyHash(policy: Policy): string {
  return createHash('sha256').update(JSON.stringify(canonicalPolicy(policy))).digest('hex').slice(0, 16);
}

export const ENTRY_CHAIN = 'classify';
const fromChain = (g: string): string => `from_${g}`;
const pairChain = (g: string, h: string): string => `p_${g}__${h}`;

interface Step {
  readonly rule: GroupRule;
  readonly chain: string;
}

/** Every group an address can be in: the defined ones, then ungrouped and outside. */
export function groupNames(policy: Policy): string[] {
  return [...policy.groups.map((g) => g.name), UNGROUPED, OUTSIDE];
}

function matchesPair(rule: GroupRule, g: string, h: string): boolean {
  return (rule.from === ANY || rule.from === g) && (rule.to === ANY || rule.to === h);
}

function l4Matches(rule: GroupRule): NftMatch[] {
  const byProto = new Map<L4Proto, [number, number][]>();
  for (const p of rule.ports) {
    const list = byProto.get(p.proto) ?? [];
    if (p.from !== undefined) list.push([p.from, p.to ?? p.from]);
    byProto.set(p.proto, list);
  }
  return [...byProto].map(([proto, ports]) => (proto === 'icmp' ? { kind: 'l4', proto } : { kind: 'l4', proto, ports }));
}

export function compilePolicy(policy: Policy, host: PolicyHost, bindings: readonly PortBinding[] = []): CompiledPolicy {
  const geometry: PolicyGeometry = { fans: host.fans };
  checkGeometry(policy, geometry);
  const chains: NftChain[] = [];
  const counted = (name: string, verdict: NftVerdict, comment: string): void => {
    chains.push({ name, rules: [{ matches: [], action: { kind: 'verdict', verdict }, counter: true, comment }] });
  };
  counted('v_host', accept, HOST_RULE);
  counted('v_within', accept, 'within group');
  counted('v_default', policy.default === 'open' ? accept : drop, `default ${policy.default}`);
  const ruleChains = (kind: 'allow' | 'deny'): Step[] =>
    policy[kind].map((rule, i) => {
      const name = `r_${kind}_${i}`;
      counted(name, kind === 'allow' ? accept : drop, `${describeRule(kind, rule)} (line ${rule.line})`);
      return { rule, chain: name };
    });
  const denies = ruleChains('deny');
  const allows = ruleChains('allow');
  const pairs = [
    ...policy.disconnect.map((p, i) => ({ p, chain: `v_disconnect_${i}`, verdict: drop, text: describePair('disconnect', p) })),
    ...policy.connect.map((p, i) => ({ p, chain: `v_connect_${i}`, verdict: accept, text: describePair('connect', p) })),
  ];
  for (const x of pairs) counted(x.chain, x.verdict, `${x.text} (line ${x.p.line})`);

  const names = groupNames(policy);
  /** The verdict of traffic from group g to group h: a shared counted chain, or a pair chain with port rules. */
  const pairVerdict = (g: string, h: string): NftVerdict => {
    const steps = [...denies, ...allows].filter((s) => matchesPair(s.rule, g, h));
    const rules: NftRule[] = [];
    for (const s of steps) {
      if (s.rule.ports.length === 0) {
        if (rules.length === 0) return jump(s.chain);
        rules.push({ matches: [], action: { kind: 'verdict', verdict: jump(s.chain) }, counter: false });
        break;
      }
      for (const m of l4Matches(s.rule)) rules.push({ matches: [m], action: { kind: 'verdict', verdict: jump(s.chain) }, counter: false });
    }
    const last = rules[rules.length - 1];
    const closed = last !== undefined && last.matches.length === 0;
    const final = jump(g === h ? 'v_within' : 'v_default');
    if (rules.length === 0) return final;
    if (!closed) rules.push({ matches: [], action: { kind: 'verdict', verdict: final }, counter: false });
    const name = pairChain(g, h);
    chains.push({ name, rules });
    return jump(name);
  };

  const cidrGroups = policy.groups.flatMap((g) => (g.kind === 'cidr' ? g.cidrs.map((cidr) => ({ cidr, group: g.name })) : []));
  /** Classifies `field` and hands each group to `target`; host addresses go to v_host. */
  const classifyRules = (field: AddrField, target: (group: string) => NftVerdict): NftRule[] => {
    const rules: NftRule[] = host.fans.map((fan) => ({
      matches: [{ kind: 'in', field, cidr: fan.overlay }],
      action: { kind: 'index-vmap', field, mask: hostMask(fan.slicePrefix), entries: indexEntries(policy, fan, target) },
      counter: false,
    }));
    if (cidrGroups.length > 0) {
      rules.push({ matches: [], action: { kind: 'cidr-vmap', field, entries: cidrGroups.map((c) => ({ cidr: c.cidr, verdict: target(c.group) })) }, counter: false });
    }
    rules.push({ matches: [], action: { kind: 'verdict', verdict: target(OUTSIDE) }, counter: false });
    return rules;
  };

  const entry: NftRule[] = [];
  if (pairs.length > 0) {
    entry.push({
      matches: [],
      action: { kind: 'pair-vmap', entries: pairEntries(pairs) },
      counter: false,
    });
  }
  chains.push({ name: ENTRY_CHAIN, rules: [...entry, ...classifyRules('saddr', (g) => jump(fromChain(g)))] });
  for (const g of names) chains.push({ name: fromChain(g), rules: classifyRules('daddr', (h) => pairVerdict(g, h)) });

  const dnat: DnatRule[] = policy.expose.flatMap((e) => {
    const fan = host.fans.find((f) => contains(f.slice, e.to));
    return fan
      ? [{ proto: e.proto, hostAddress: fan.underlayHost, port: e.port, to: e.to, toPort: e.toPort, comment: `expose ${e.proto}/${e.port} to ${formatIpv4(e.to)}:${e.toPort} (line ${e.line})` }]
      : [];
  });
  return { hash: policyHash(policy), bridges: host.fans.map((f) => f.bridge), entry: ENTRY_CHAIN, chains, dnat, bindings: [...bindings] };
}

/** Both directions of every pair; the first mention of an ordered pair wins, as in checkPolicy. */
function pairEntries(pairs: readonly { p: { a: Ipv4; b: Ipv4 }; chain: string }[]): { a: Ipv4; b: Ipv4; verdict: NftVerdict }[] {
  const seen = new Set<string>();
  const out: { a: Ipv4; b: Ipv4; verdict: NftVerdict }[] = [];
  for (const x of pairs) {
    for (const [a, b] of [[x.p.a, x.p.b], [x.p.b, x.p.a]] as const) {
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
export function evaluateCompiled(compiled: CompiledPolicy, packet: Packet): { readonly verdict: 'accept' | 'drop'; readonly chain: string; readonly comment?: string } {
  const byName = new Map(compiled.chains.map((c) => [c.name, c]));
  const run = (name: string, depth: number): { verdict: 'accept' | 'drop'; chain: string; comment?: string } | undefined => {
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
  if (m.kind === 'in') return contains(m.cidr, m.field === 'saddr' ? p.saddr : p.daddr);
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

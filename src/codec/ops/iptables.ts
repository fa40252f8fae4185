/**
 * ACCEPT rules fan keeps in iptables so a FORWARD policy DROP (Docker sets one when it starts) never cuts fan
 * traffic, even one set after `fanctl up`: traffic from the bridge, replies to it, and overlay traffic arriving from
 * other hosts (through the tunnel, or the underlay device for host-gw). Each carries the comment `fan BRIDGE`. Why
 * iptables at all, when everything else is in fan's nftables table: an accept in one nftables base chain does not
 * stop another table's chain on the same hook from dropping, so only a rule in the chain that drops can let fan
 * traffic through. With Docker present they go in DOCKER-USER, the chain Docker keeps for its users' rules and
 * evaluates first.
 */
import { FAN_IPTABLES_COMMENT, type ForwardRuleState } from '../../core/model/host-state.js';
import type { Op } from '../../core/plan/ops.js';
import { type Change, run } from './action.js';

type OpOf<K extends Op['kind']> = Extract<Op, { kind: K }>;

export const FORWARD_CHAINS = ['FORWARD', 'DOCKER-USER'] as const;
export type ForwardChain = (typeof FORWARD_CHAINS)[number];

export function forwardRules(bridge: string, from: string): string[][] {
  const comment = ['-m', 'comment', '--comment', `${FAN_IPTABLES_COMMENT} ${bridge}`];
  return [
    ['-i', bridge, ...comment, '-j', 'ACCEPT'],
    ['-o', bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...comment, '-j', 'ACCEPT'],
    ['-i', from, '-o', bridge, ...comment, '-j', 'ACCEPT'],
  ];
}

export function iptablesArgv(verb: '-I' | '-D', chain: ForwardChain, rule: readonly string[]): string[] {
  return ['iptables', '-w', verb, chain, ...rule];
}

/** Splits one `iptables -S` line into words (double quotes group, as iptables prints comments). */
export function splitRuleLine(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

/** The bridge a rule line belongs to: its comment must be exactly `fan BRIDGE`. */
function ruleBridge(words: readonly string[]): string | undefined {
  const at = words.indexOf('--comment');
  return at < 0 ? undefined : new RegExp(`^${FAN_IPTABLES_COMMENT} (\\S+)$`).exec(words[at + 1] ?? '')?.[1];
}

export interface ForwardRulesState {
  readonly policyDrop: boolean;
  /** fan's rules, as the bridge and the device its `-i FROM -o BRIDGE` rule accepts from ('' when missing). */
  readonly accepts: readonly { readonly bridge: string; readonly from: string }[];
  /** Each of fan's rules, in listing order. */
  readonly rules: readonly ForwardRuleState[];
  /** Chains the listing defines or fills (FORWARD always exists where iptables works). */
  readonly chains: readonly string[];
}

/**
 * fan's rules in `iptables -S` output (all chains). A comment must be exactly `fan BRIDGE`: a rule whose comment
 * only starts so is not fan's, or fan would neither add its own nor manage to delete it.
 */
export function decodeForwardRules(rulesText: string): ForwardRulesState {
  const from = new Map<string, string>();
  const rules: ForwardRuleState[] = [];
  const chains = new Set<string>();
  let policyDrop = false;
  for (const line of rulesText.split('\n')) {
    if (/^-P FORWARD DROP/.test(line)) policyDrop = true;
    const words = splitRuleLine(line);
    if ((words[0] === '-N' || words[0] === '-P' || words[0] === '-A') && words[1]) chains.add(words[1]);
    const bridge = ruleBridge(words);
    const chain = FORWARD_CHAINS.find((c) => c === words[1]);
    if (bridge === undefined || words[0] !== '-A' || chain === undefined) continue;
    rules.push({ chain, bridge, words: words.slice(2) });
    const input = words.indexOf('-i');
    const isPeerRule = input >= 0 && words.includes('-o');
    if (isPeerRule) from.set(bridge, words[input + 1] ?? '');
    else if (!from.has(bridge)) from.set(bridge, '');
  }
  return {
    policyDrop,
    accepts: [...from].map(([bridge, device]) => ({ bridge, from: device })),
    rules,
    chains: [...chains],
  };
}

export function renderForwardAcceptAdd(op: OpOf<'forward-accept-add'>): Change[] {
  // Inserted last rule first, so they end up at the top of the chain in order.
  return forwardRules(op.bridge, op.from)
    .reverse()
    .map((rule) => ({
      apply: run(iptablesArgv('-I', op.chain, rule)),
      undo: [run(iptablesArgv('-D', op.chain, rule))],
    }));
}

export function renderForwardAcceptDel(op: OpOf<'forward-accept-del'>): Change[] {
  // Restored in reverse order of deletion, each at the top: the original order comes back.
  return op.rules.map((rule) => ({
    apply: run(iptablesArgv('-D', rule.chain, rule.words)),
    undo: [run(iptablesArgv('-I', rule.chain, rule.words))],
  }));
}

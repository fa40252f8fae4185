/**
 * The kernel side of the policy: loading the `nft -f` script of src/codec/policy-nft.ts in one transaction,
 * reading the tables back (hash, per-rule counters), keeping the bound-port set current, and letting bridged
 * traffic on fan's bridges pass the IPv4 hooks (per bridge, `nf_call_iptables`) so same-host traffic between
 * groups meets the policy too. Only fan's own tables (`fan-policy`, marked by their comment) are touched.
 */
import { performance } from 'node:perf_hooks';
import { FanError } from '../core/errors.js';
import { POLICY_TABLE, decodePolicyHash } from '../codec/policy-nft.js';
import type { CommandRunner } from '../ports/runner.js';

export interface RuleCounter {
  readonly family: 'ip' | 'bridge';
  readonly chain: string;
  readonly comment?: string;
  readonly packets: number;
  readonly bytes: number;
}

export interface PolicyTablesState {
  /** Hash of the policy in fan's table, when the table is there and fan's. */
  readonly hash?: string;
  /** A table named like fan's exists without fan's comment: never replaced. */
  readonly foreign: boolean;
  readonly counters: readonly RuleCounter[];
  readonly boundCount: number;
}

export interface NftTiming {
  /** Wall time of the `nft -f` run (grows with the machine's load). */
  readonly wallMs: number;
  /** CPU time nft used, user + system: parsing, and the kernel's work on the transaction, done in nft's syscalls. */
  readonly cpuMs: number;
}

/** `times` prints the children's user and system time on its second line: `0m0.010000s 0m0.020000s`. */
export function decodeTimes(text: string): number | undefined {
  const lines = text.trim().split('\n');
  const m = /(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/.exec(lines[lines.length - 1] ?? '');
  if (!m) return undefined;
  return (Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000;
}

/**
 * Runs one nft script as one transaction. The shell around nft only reports nft's CPU time (`times`): on a
 * loaded machine the wall time says more about the scheduler than about nft.
 */
export async function loadNftScript(runner: CommandRunner, script: string): Promise<NftTiming> {
  const start = performance.now();
  const out = await runner.run(['sh', '-c', 'nft -f -; s=$?; times >&2; exit $s'], {
    input: script,
    allowFailure: true,
  });
  const wallMs = performance.now() - start;
  const timesAt = out.stderr.lastIndexOf('\n', out.stderr.trimEnd().lastIndexOf('\n') - 1);
  const nftErr = timesAt > 0 ? out.stderr.slice(0, timesAt) : '';
  if (out.exitCode !== 0) {
    throw new FanError(
      `nft refused the policy transaction (exit ${out.exitCode}); nothing was changed:\n` +
        `  ${nftErr.trim().split('\n').join('\n  ')}`,
      'report a bug with the output of fanctl policy show and the policy file',
    );
  }
  return { wallMs, cpuMs: decodeTimes(out.stderr) ?? wallMs };
}

interface NftJsonItem {
  rule?: { family: string; chain: string; comment?: string; expr?: { counter?: { packets: number; bytes: number } }[] };
  set?: { name: string; elem?: unknown[] };
}

export async function readPolicyTables(runner: CommandRunner): Promise<PolicyTablesState> {
  const listing = await runner.run(['nft', 'list', 'table', 'ip', POLICY_TABLE], { allowFailure: true });
  if (listing.exitCode !== 0) return { foreign: false, counters: [], boundCount: 0 };
  const hash = decodePolicyHash(listing.stdout);
  if (hash === undefined) return { foreign: true, counters: [], boundCount: 0 };
  const counters: RuleCounter[] = [];
  let boundCount = 0;
  for (const family of ['ip', 'bridge'] as const) {
    const out = await runner.run(['nft', '-j', 'list', 'table', family, POLICY_TABLE], { allowFailure: true });
    if (out.exitCode !== 0) continue;
    const items = (JSON.parse(out.stdout) as { nftables?: NftJsonItem[] }).nftables ?? [];
    for (const item of items) {
      if (item.set?.name === 'bound') boundCount = item.set.elem?.length ?? 0;
      const rule = item.rule;
      const counter = rule?.expr?.find((e) => e.counter !== undefined)?.counter;
      if (!rule || !counter) continue;
      counters.push({
        family,
        chain: rule.chain,
        ...(rule.comment !== undefined ? { comment: rule.comment } : {}),
        packets: counter.packets,
        bytes: counter.bytes,
      });
    }
  }
  return { hash, foreign: false, counters, boundCount };
}

/** Refuses to replace a table named like fan's that fan did not make. */
export async function requireOwnTables(runner: CommandRunner): Promise<void> {
  const state = await readPolicyTables(runner);
  if (state.foreign) {
    throw new FanError(
      `an nftables table "ip ${POLICY_TABLE}" exists that fan did not create`,
      `inspect it with nft list table ip ${POLICY_TABLE}; remove it if it is not in use`,
    );
  }
}

/** Bridged IPv4 on the bridge passes the ip family's hooks, with conntrack, whatever the global sysctl says. */
export async function enableBridgeFiltering(runner: CommandRunner, bridge: string): Promise<void> {
  await runner.run(['ip', 'link', 'set', 'dev', bridge, 'type', 'bridge', 'nf_call_iptables', '1']);
}

/** Applies a set-element change when the bridge table exists; false when it does not (no policy applied). */
export async function changeBindings(runner: CommandRunner, script: string, op: 'add' | 'delete'): Promise<boolean> {
  if (script === '') return true;
  const out = await runner.run(['nft', '-f', '-'], { input: script, allowFailure: true });
  if (out.exitCode === 0) return true;
  if (op === 'add') return false; // adding an element that exists succeeds: the table is not there
  // One missing element fails the whole batch: retry statement by statement (deleting what is gone is fine).
  let any = false;
  for (const line of script.split('\n').filter(Boolean)) {
    any = (await runner.run(['nft', line], { allowFailure: true })).exitCode === 0 || any;
  }
  return any;
}

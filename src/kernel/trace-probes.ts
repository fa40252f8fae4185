/**
 * The kernel reads and probes `fanctl trace` uses: neighbour state, an ARP probe on the underlay, the counters a
 * packet moves (eBPF stats per device, nft rule counters), and one ping from a chosen namespace.
 */
import { decodeNftCounters } from '../codec/nft-counters.js';
import { FAN_NFT_TABLE } from '../core/model/host-state.js';
import type { CommandRunner } from '../ports/runner.js';
import type { BpfTables } from './bpf.js';

const ANSWERED = ['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT', 'NOARP'];

/** The neighbour entry's state for `address` on `dev` (e.g. REACHABLE, FAILED), or undefined when there is none. */
export async function neighbourState(runner: CommandRunner, address: string, dev: string): Promise<string | undefined> {
  const out = await runner.run(['ip', '-json', '-4', 'neigh', 'show', address, 'dev', dev], { allowFailure: true });
  const entries = JSON.parse(out.stdout || '[]') as { state?: string[] }[];
  return entries[0]?.state?.[0];
}

/** Whether `address` answers ARP on `dev`: a known neighbour counts, otherwise one ARP request is sent. */
export async function answersArp(runner: CommandRunner, address: string, dev: string): Promise<boolean> {
  const state = await neighbourState(runner, address, dev);
  if (state !== undefined && ANSWERED.includes(state)) return true;
  const out = await runner
    .run(['arping', '-q', '-c', '1', '-w', '1', '-I', dev, address], { allowFailure: true, timeoutMs: 5_000 })
    .catch(() => undefined);
  return out?.exitCode === 0;
}

export interface CounterSnapshot {
  /** `ebpf DEV overlay N: field` → value, and `nft CHAIN: COMMENT` → packets. */
  readonly values: ReadonlyMap<string, number>;
}

export async function readCounters(
  runner: CommandRunner,
  bpf: BpfTables,
  devices: readonly string[],
): Promise<CounterSnapshot> {
  const values = new Map<string, number>();
  for (const dev of devices) {
    for (const [index, stats] of await bpf.readStats(dev).catch(() => new Map())) {
      for (const [field, value] of Object.entries(stats as Record<string, number>))
        values.set(`ebpf ${dev} ${index === 16 ? 'unmatched' : `overlay ${index}`}: ${field}`, value);
    }
  }
  const nft = await runner.run(['nft', '-j', 'list', 'table', 'ip', FAN_NFT_TABLE], { allowFailure: true });
  if (nft.exitCode === 0)
    for (const [rule, packets] of decodeNftCounters(nft.stdout)) values.set(`nft ${rule}`, packets);
  return { values };
}

/** Counters that moved between two snapshots, with how much. */
export function movedCounters(before: CounterSnapshot, after: CounterSnapshot): { counter: string; delta: number }[] {
  const out: { counter: string; delta: number }[] = [];
  for (const [key, value] of after.values) {
    const delta = value - (before.values.get(key) ?? 0);
    if (delta > 0 && !key.endsWith('Bytes')) out.push({ counter: key, delta });
  }
  return out;
}

export interface PingResult {
  readonly transmitted: number;
  readonly received: number;
  readonly error?: string;
}

/** Pings `dst` from a namespace (`prefix`: argv that enters it, empty for this one). */
export async function pingFrom(
  runner: CommandRunner,
  prefix: readonly string[],
  dst: string,
  source?: string,
  count = 3,
): Promise<PingResult> {
  const argv = [
    ...prefix,
    'ping',
    '-n',
    '-c',
    String(count),
    '-i',
    '0.2',
    '-W',
    '1',
    ...(source ? ['-I', source] : []),
    dst,
  ];
  const out = await runner.run(argv, { allowFailure: true, timeoutMs: 15_000 });
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(out.stdout);
  const error = out.stderr.trim() || (m ? undefined : `ping exited ${out.exitCode}`);
  return { transmitted: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0), ...(error ? { error } : {}) };
}

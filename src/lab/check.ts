/**
 * `fanctl lab check`: every container pings every other container (across hosts and on the same host, in its own
 * overlay and in the others: overlays route to each other) and the outside namespace. Results are data; the CLI
 * renders the matrix.
 */
import { formatIpv4 } from '../core/address/ipv4.js';
import type { CommandRunner } from '../ports/runner.js';
import { containerAddress } from './lab.js';
import { inNs } from './shell.js';
import type { LabContainer, LabTopology } from './topology.js';

export interface PingResult {
  readonly from: string;
  readonly to: string;
  readonly target: string;
  readonly kind: 'same-host' | 'cross-host' | 'outside';
  /** Between containers of two different overlays. */
  readonly crossOverlay: boolean;
  readonly ok: boolean;
  readonly rttMs?: number;
  readonly ttl?: number;
}

export interface CheckReport {
  readonly results: readonly PingResult[];
  readonly passed: number;
  readonly failed: number;
}

/** One ping exchange: up to 3 echo requests, success when one is answered. */
export async function ping(
  runner: CommandRunner,
  target: string,
): Promise<{ ok: boolean; rttMs?: number; ttl?: number }> {
  const out = await runner.run(['ping', '-n', '-c', '3', '-i', '0.2', '-W', '1', '-w', '3', target], {
    allowFailure: true,
  });
  const reply = /ttl=(\d+) time=([\d.]+) ms/.exec(out.stdout);
  if (!reply) return { ok: false };
  return { ok: true, ttl: Number(reply[1]), rttMs: Number(reply[2]) };
}

/** Runs `tasks` with at most `limit` in flight, reporting each completion. */
export async function pooled<T>(
  tasks: readonly (() => Promise<T>)[],
  limit: number,
  done: (completed: number, total: number) => void = () => {},
): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  let completed = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const index = next++;
      const task = tasks[index];
      if (!task) continue;
      results[index] = await task();
      done(++completed, tasks.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

export async function labCheck(
  topo: LabTopology,
  progress: (completed: number, total: number) => void = () => {},
): Promise<CheckReport> {
  const containers = topo.hosts.flatMap((h) => h.containers.map((c) => ({ host: h.name, c })));
  const addresses = new Map<LabContainer, string>();
  for (const { c } of containers) addresses.set(c, await containerAddress(c));
  const tasks: (() => Promise<PingResult>)[] = [];
  for (const a of containers) {
    for (const b of containers) {
      if (a === b) continue;
      const target = addresses.get(b.c) ?? '';
      const kind = a.host === b.host ? 'same-host' : 'cross-host';
      tasks.push(async () => ({
        from: a.c.name,
        to: b.c.name,
        target,
        kind,
        crossOverlay: a.c.overlay !== b.c.overlay,
        ...(await ping(inNs(a.c.ns), target)),
      }));
    }
    const outside = formatIpv4(topo.outside.address);
    tasks.push(async () => ({
      from: a.c.name,
      to: 'outside',
      target: outside,
      kind: 'outside',
      crossOverlay: false,
      ...(await ping(inNs(a.c.ns), outside)),
    }));
  }
  const results = await pooled(tasks, 8, progress);
  const passed = results.filter((r) => r.ok).length;
  return { results, passed, failed: results.length - passed };
}

/**
 * `fanctl lab bench --cni`: container attach time of the fan CNI plugin against Debian's reference plugins
 * (`bridge` + `host-local`, /usr/lib/cni), measured side by side on one lab host in one run:
 * - N sequential ADDs, then N sequential DELs, for each plugin: p50 and p95 of the wall time of each call;
 * - M concurrent ADDs (all started at once), for each plugin: the wall time until the last one finished, with M
 *   distinct addresses checked;
 * - a small sample of the fan plugin without the agent (a Node.js process per call), for comparison.
 * Every call runs the installed plugin executable as a runtime does (CNI_* environment, config on stdin) inside the
 * lab host's network namespace (`nsenter --net`); the cost of entering it (`floorMs`) is the same for both plugins
 * and is reported, and the targets are judged on times net of it. The blocks alternate their order from run to
 * run, since this machine's speed drifts; the report gives every run and the medians.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { FanError } from '../core/errors.js';
import { ExecRunner, startProcess } from '../kernel/exec.js';
import { socketAnswers } from '../agent/server.js';
import { pooled } from './check.js';
import { FANCTL, fanctl } from './lab.js';
import type { CniBenchOptions } from './bench/options.js';
import { median, percentile } from './bench/stats.js';
import type { LabHost, LabTopology } from './topology.js';

export { type CniBenchOptions, DEFAULT_CNI_BENCH } from './bench/options.js';

export interface CallStats {
  readonly p50: number;
  readonly p95: number;
}

export interface CniBenchRun {
  readonly fanAdd: CallStats;
  readonly fanDel: CallStats;
  readonly refAdd: CallStats;
  readonly refDel: CallStats;
  readonly fanConcurrentMs: number;
  readonly refConcurrentMs: number;
  readonly inProcessAdd?: CallStats;
  readonly inProcessDel?: CallStats;
  /** p50 of `nsenter --net=HOST true`: what every call pays to enter the lab host. */
  readonly floorMs: number;
}

export interface CniTarget {
  readonly name: string;
  /** fan / reference, net of the floor. */
  readonly ratio: number;
  /** The same ratio on raw wall times. */
  readonly rawRatio: number;
  readonly limit: number;
  readonly holds: boolean;
}

export interface CniBenchReport {
  readonly options: CniBenchOptions;
  readonly runs: readonly CniBenchRun[];
  /** Medians over the runs. */
  readonly median: CniBenchRun;
  readonly targets: readonly CniTarget[];
}

const root = new ExecRunner();
const REFERENCE_DIR = '/usr/lib/cni';

const stats = (ms: readonly number[]): CallStats => ({ p50: percentile(ms, 50), p95: percentile(ms, 95) });

interface Plugin {
  readonly name: string;
  readonly argv: readonly string[];
  readonly conf: Record<string, unknown>;
  readonly extraEnv: readonly string[];
}

interface Outcome {
  readonly ms: number;
  readonly exitCode: number;
  readonly stdout: string;
}

async function call(
  host: LabHost,
  plugin: Plugin,
  command: 'ADD' | 'DEL',
  id: string,
  netnsName: string,
): Promise<Outcome> {
  const env = [
    `FAN_STATE_DIR=${host.stateDir}`,
    `CNI_COMMAND=${command}`,
    `CNI_CONTAINERID=${id}`,
    `CNI_NETNS=/var/run/netns/${netnsName}`,
    'CNI_IFNAME=eth0',
    `CNI_PATH=${REFERENCE_DIR}`,
    ...plugin.extraEnv,
  ];
  const started = performance.now();
  const out = await root.run(['nsenter', `--net=/var/run/netns/${host.ns}`, 'env', ...env, ...plugin.argv], {
    input: JSON.stringify(plugin.conf),
    allowFailure: true,
    timeoutMs: 120_000,
  });
  return { ms: performance.now() - started, exitCode: out.exitCode, stdout: out.stdout };
}

function must(out: Outcome, what: string): Outcome {
  if (out.exitCode !== 0) throw new FanError(`${what} failed (exit ${out.exitCode}): ${out.stdout.slice(0, 400)}`);
  return out;
}

function addressOf(out: Outcome): string {
  const doc = JSON.parse(out.stdout) as { ips?: { address?: string }[] };
  const address = doc.ips?.[0]?.address;
  if (!address) throw new FanError(`ADD returned no address: ${out.stdout.slice(0, 300)}`);
  return address;
}

async function sequential(
  host: LabHost,
  plugin: Plugin,
  sandboxes: readonly string[],
  tag: string,
): Promise<{ add: CallStats; del: CallStats }> {
  const adds: number[] = [];
  const dels: number[] = [];
  for (const [i, ns] of sandboxes.entries())
    adds.push(must(await call(host, plugin, 'ADD', `${tag}s${i}`, ns), `${plugin.name} ADD`).ms);
  for (const [i, ns] of sandboxes.entries())
    dels.push(must(await call(host, plugin, 'DEL', `${tag}s${i}`, ns), `${plugin.name} DEL`).ms);
  return { add: stats(adds), del: stats(dels) };
}

async function concurrent(host: LabHost, plugin: Plugin, sandboxes: readonly string[], tag: string): Promise<number> {
  const started = performance.now();
  const outs = await Promise.all(sandboxes.map((ns, i) => call(host, plugin, 'ADD', `${tag}c${i}`, ns)));
  const ms = performance.now() - started;
  outs.forEach((o) => must(o, `${plugin.name} concurrent ADD`));
  const distinct = new Set(outs.map(addressOf)).size;
  if (distinct !== sandboxes.length)
    throw new FanError(`${plugin.name}: ${sandboxes.length} concurrent ADDs got ${distinct} distinct addresses`);
  await pooled(
    sandboxes.map(
      (ns, i) => () => call(host, plugin, 'DEL', `${tag}c${i}`, ns).then((o) => must(o, `${plugin.name} DEL`)),
    ),
    16,
  );
  return ms;
}

async function floor(host: LabHost): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    await root.run(['nsenter', `--net=/var/run/netns/${host.ns}`, 'env', 'true']);
    ms.push(performance.now() - started);
  }
  return median(ms);
}

/** The agent of `host`, started in its namespace with its state dir; stopped by pid. */
async function startAgent(host: LabHost, logFile: string): Promise<{ stop: () => Promise<void> }> {
  const socket = `${host.stateDir}/agent.sock`;
  const agent = startProcess(
    ['ip', 'netns', 'exec', host.ns, 'env', `FAN_STATE_DIR=${host.stateDir}`, process.execPath, FANCTL, 'agent'],
    { logFile },
  );
  for (let i = 0; !(await socketAnswers(socket)); i++) {
    if (!agent.running() || i > 300) {
      process.kill(agent.pid, 'SIGKILL');
      throw new FanError(
        `the fan agent did not start on ${host.name}: ${(await readFile(logFile, 'utf8').catch(() => '')).slice(-500)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    stop: async () => {
      if (!agent.running()) return;
      process.kill(agent.pid, 'SIGTERM');
      const timer = setTimeout(() => agent.running() && process.kill(agent.pid, 'SIGKILL'), 10_000);
      await agent.exited;
      clearTimeout(timer);
    },
  };
}

const medianOf = (runs: readonly CniBenchRun[], pick: (r: CniBenchRun) => number): number => median(runs.map(pick));
const medianStats = (
  runs: readonly CniBenchRun[],
  pick: (r: CniBenchRun) => CallStats | undefined,
): CallStats | undefined => {
  const present = runs.map(pick).filter((s): s is CallStats => s !== undefined);
  return present.length === 0
    ? undefined
    : { p50: median(present.map((s) => s.p50)), p95: median(present.map((s) => s.p95)) };
};

export function summarise(options: CniBenchOptions, runs: readonly CniBenchRun[]): CniBenchReport {
  const zero = { p50: 0, p95: 0 };
  const inProcessAdd = medianStats(runs, (r) => r.inProcessAdd);
  const inProcessDel = medianStats(runs, (r) => r.inProcessDel);
  const m: CniBenchRun = {
    fanAdd: medianStats(runs, (r) => r.fanAdd) ?? zero,
    fanDel: medianStats(runs, (r) => r.fanDel) ?? zero,
    refAdd: medianStats(runs, (r) => r.refAdd) ?? zero,
    refDel: medianStats(runs, (r) => r.refDel) ?? zero,
    fanConcurrentMs: medianOf(runs, (r) => r.fanConcurrentMs),
    refConcurrentMs: medianOf(runs, (r) => r.refConcurrentMs),
    ...(inProcessAdd ? { inProcessAdd } : {}),
    ...(inProcessDel ? { inProcessDel } : {}),
    floorMs: medianOf(runs, (r) => r.floorMs),
  };
  const target = (name: string, fan: number, ref: number, limit: number, net: boolean): CniTarget => {
    const f = net ? Math.max(fan - m.floorMs, 0.1) : fan;
    const r = net ? Math.max(ref - m.floorMs, 0.1) : ref;
    const ratio = r > 0 ? f / r : Infinity;
    return { name, ratio, rawRatio: ref > 0 ? fan / ref : Infinity, limit, holds: ratio <= limit };
  };
  return {
    options,
    runs,
    median: m,
    targets: [
      target(`ADD p50 over ${options.sequential} sequential calls`, m.fanAdd.p50, m.refAdd.p50, 1.5, true),
      target(`ADD p95 over ${options.sequential} sequential calls`, m.fanAdd.p95, m.refAdd.p95, 2, true),
      // Entering the namespace is paid by each call, but concurrently: nothing to take off the total.
      target(`${options.concurrent} concurrent ADDs, total time`, m.fanConcurrentMs, m.refConcurrentMs, 2, false),
    ],
  };
}

export async function cniBench(
  topo: LabTopology,
  options: CniBenchOptions,
  progress: (line: string) => void = () => {},
): Promise<CniBenchReport> {
  const host = topo.hosts[0];
  if (!host) throw new FanError('the CNI bench needs a lab host', 'fanctl lab up --hosts 1');
  const dir = `${topo.stateDir}/cnibench`;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  progress(`${host.name}: fanctl cni install; reference bridge + host-local on bridge fanbref0 (10.250.0.0/16)`);
  await fanctl(host, ['cni', 'install', '--dir', `${dir}/bin`, '--conf-dir', `${dir}/net.d`]);
  const installed = await readFile(`${dir}/bin/fan`, 'utf8');
  if (installed.startsWith('#!'))
    progress('warning: the C forwarder is not built (clang missing?): the fan plugin forwards through Node.js');
  const fan: Plugin = {
    name: 'fan',
    argv: [`${dir}/bin/fan`],
    conf: { cniVersion: '1.0.0', name: 'benchfan', type: 'fan' },
    extraEnv: [],
  };
  const inProcess: Plugin = {
    ...fan,
    name: 'fan without agent',
    extraEnv: ['FAN_CNI_IN_PROCESS=1'],
    argv: [process.execPath, FANCTL.replace(/fanctl\.js$/, 'fan-cni.js')],
  };
  const reference: Plugin = {
    name: 'reference',
    argv: [`${REFERENCE_DIR}/bridge`],
    conf: {
      cniVersion: '1.0.0',
      name: 'benchref',
      type: 'bridge',
      bridge: 'fanbref0',
      isGateway: true,
      ipMasq: false,
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.250.0.0/16' }]], dataDir: `${dir}/host-local` },
    },
    extraEnv: [],
  };
  const count = Math.max(options.sequential, options.concurrent, options.inProcess);
  progress(`creating ${count} container namespaces`);
  const sandboxes: string[] = [];
  for (let i = 0; i < count; i++) sandboxes.push(`${topo.prefix}-b${i}`);
  await pooled(
    sandboxes.map((ns) => () => root.run(['ip', 'netns', 'add', ns])),
    8,
  );
  const agent = await startAgent(host, `${dir}/agent.log`);
  try {
    progress('warming up both plugins');
    for (const p of [fan, reference]) {
      for (let i = 0; i < 5; i++) {
        const ns = sandboxes[i] ?? '';
        must(await call(host, p, 'ADD', `warm${i}`, ns), `${p.name} ADD`);
        must(await call(host, p, 'DEL', `warm${i}`, ns), `${p.name} DEL`);
      }
    }
    const runs: CniBenchRun[] = [];
    for (let run = 0; run < options.runs; run++) {
      const tag = `r${run}`;
      const order = run % 2 === 0 ? [fan, reference] : [reference, fan];
      const seq = new Map<string, { add: CallStats; del: CallStats }>();
      const conc = new Map<string, number>();
      for (const p of order) {
        progress(`run ${run + 1}/${options.runs}: ${p.name}: ${options.sequential} sequential ADDs and DELs`);
        seq.set(
          p.name,
          await sequential(host, p, sandboxes.slice(0, options.sequential), `${p.name === 'fan' ? 'f' : 'x'}${tag}`),
        );
      }
      for (const p of [...order].reverse()) {
        progress(`run ${run + 1}/${options.runs}: ${p.name}: ${options.concurrent} concurrent ADDs`);
        conc.set(
          p.name,
          await concurrent(host, p, sandboxes.slice(0, options.concurrent), `${p.name === 'fan' ? 'f' : 'x'}${tag}`),
        );
      }
      let inProc: { add: CallStats; del: CallStats } | undefined;
      if (options.inProcess > 0) {
        progress(
          `run ${run + 1}/${options.runs}: fan without the agent: ${options.inProcess} sequential ADDs and DELs`,
        );
        inProc = await sequential(host, inProcess, sandboxes.slice(0, options.inProcess), `i${tag}`);
      }
      const f = seq.get('fan');
      const r = seq.get('reference');
      if (!f || !r) throw new FanError('internal: a bench block is missing');
      runs.push({
        fanAdd: f.add,
        fanDel: f.del,
        refAdd: r.add,
        refDel: r.del,
        fanConcurrentMs: conc.get('fan') ?? 0,
        refConcurrentMs: conc.get('reference') ?? 0,
        ...(inProc ? { inProcessAdd: inProc.add, inProcessDel: inProc.del } : {}),
        floorMs: await floor(host),
      });
    }
    const report = summarise(options, runs);
    await writeFile(`${dir}/report.json`, JSON.stringify(report, null, 2));
    return report;
  } finally {
    await agent.stop();
    await pooled(
      sandboxes.map((ns) => () => root.run(['ip', 'netns', 'del', ns], { allowFailure: true })),
      8,
    );
    await root.run(['ip', 'netns', 'exec', host.ns, 'ip', 'link', 'del', 'fanbref0'], { allowFailure: true });
  }
}

/** `fanctl lab …`: the multi-host lab in network namespaces (demo, end-to-end bed, benchmark bed). */
import Table from 'cli-table3';
import { cpus, loadavg, release } from 'node:os';
import { measurePaths, runSuite } from '../../lab/bench.js';
import type { BenchReport, SuiteOptions } from '../../lab/bench/model.js';
import { controlTable, pathTable, targetSummary, targetTable } from '../../lab/bench/rows.js';
import { evaluateTargets } from '../../lab/bench/targets.js';
import { cniBench } from '../../lab/cni-bench.js';
import { ALL_BACKENDS } from '../../backends/registry.js';
import { renderCniBench } from './cni-bench.js';
import { type CheckReport, labCheck } from '../../lab/check.js';
import { labDown, labUp, loadLab } from '../../lab/lab.js';
import { DEFAULT_LAB, type LabOptions, type LabTopology, describeContainer } from '../../lab/topology.js';
import { FanError } from '../../core/errors.js';
import { formatCidr } from '../../core/address/ipv4.js';
import type { Output } from '../output.js';
import { progressBar, progressLine, stepProgress } from '../progress.js';

export function renderCheck(report: CheckReport): string {
  const sources = [...new Set(report.results.map((r) => r.from))];
  const targets = [...sources, ...new Set(report.results.map((r) => r.to).filter((to) => !sources.includes(to)))];
  const table = new Table({ head: ['from \\ to', ...targets], style: { head: [], border: [] } });
  for (const from of sources) {
    table.push([
      from,
      ...targets.map((to) => {
        const r = report.results.find((x) => x.from === from && x.to === to);
        return r === undefined ? '' : r.ok ? `ok ${r.rttMs?.toFixed(2)}ms` : 'FAIL';
      }),
    ]);
  }
  const failures = report.results
    .filter((r) => !r.ok)
    .map((r) => `  FAIL ${r.from} → ${r.to} (${r.target}, ${r.kind})`);
  return (
    `${table.toString()}\n` +
    `${failures.join('\n')}${failures.length ? '\n' : ''}${report.passed} passed, ${report.failed} failed\n`
  );
}

const table = (t: { head: string[]; rows: string[][] }): string =>
  (() => {
    const out = new Table({ head: t.head, style: { head: [], border: [] } });
    for (const r of t.rows) out.push(r);
    return out.toString();
  })();

/** The data-plane rows alone (the demo's table). */
export function renderPaths(paths: BenchReport['paths'], seconds: number): string {
  return (
    `${table(pathTable({ paths } as BenchReport))}\n` +
    `(iperf3 TCP, ${seconds}s each; ratios against the underlay runs next to each run)\n`
  );
}

export function renderBench(report: BenchReport): string {
  const o = report.options;
  const parts: string[] = [];
  if (report.paths.length > 0) {
    parts.push(
      `== data plane: Gbit/s median ±half-range of ${o.runs} run(s), ratio to the underlay runs bracketing each run` +
        ` (backends: ${report.backends.join(', ')})`,
      table(pathTable(report)),
    );
  }
  if (report.control.length > 0)
    parts.push(
      '== control plane: fanctl up and kernel objects per host, against per-peer state',
      table(controlTable(report)),
    );
  if (report.cni) parts.push('== container attach (CNI)', renderCniBench(report.cni).trimEnd());
  parts.push('== targets', table(targetTable(report.targets)), targetSummary(report.targets));
  parts.push(
    `(${report.durationS.toFixed(0)} s on ${report.machine.cpus} CPUs, ` +
      `load ${report.machine.loadAverage.map((l) => l.toFixed(1)).join(' ')}, kernel ${report.machine.kernel})`,
  );
  return `${parts.join('\n')}\n`;
}

export function renderTopology(topo: LabTopology): string {
  const lines = [
    `lab ${topo.prefix}: ${topo.hosts.length} hosts, underlay ${topo.options.underlay}, ` +
      `overlays ${topo.options.overlays.join(', ')}${topo.options.dhcp ? ', DHCP' : ''}`,
  ];
  for (const host of topo.hosts) {
    lines.push(`  ${host.name} (netns ${host.ns}) underlay ${formatCidr(host.underlay)}`);
    for (const c of host.containers) lines.push(`    ${describeContainer(c)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Each step on one overwritten status line on a terminal; nothing otherwise (the topology is the output). */
export async function labUpCommand(options: LabOptions): Promise<LabTopology> {
  const line = progressLine('lab up');
  try {
    return await labUp(options, (m) => line.step(m));
  } finally {
    line.done();
  }
}

export async function labCheckCommand(name: string, json = false): Promise<CheckReport> {
  return labCheck(await loadLab(name), json ? undefined : progressBar('pinging'));
}

/**
 * Benches a running lab (its data-plane rows; with `cni` the CNI section too), or with `create` runs the whole
 * suite in fresh labs named after `name`, removed afterwards.
 */
export async function labBenchCommand(
  name: string,
  options: SuiteOptions,
  output: Output,
  create: boolean,
): Promise<BenchReport> {
  // On a terminal one status line that each step overwrites; in a log a line per step, with the elapsed time.
  const line = progressLine('bench');
  const started = Date.now();
  const logged = stepProgress('bench', (text) => output.err(text), undefined);
  const progress = process.stderr.isTTY
    ? (m: string): void => line.step(`[${Math.round((Date.now() - started) / 1000)}s] ${m}`)
    : logged;
  try {
    return await benchReport(name, options, create, progress, started);
  } finally {
    line.done();
  }
}

async function benchReport(
  name: string,
  options: SuiteOptions,
  create: boolean,
  progress: (line: string) => void,
  started: number,
): Promise<BenchReport> {
  if (create) return runSuite(name, options, progress);
  const topo = await loadLab(name);
  const paths = await measurePaths(topo, options, progress);
  const cni = options.cni ? await cniBench(topo, options.cni, progress) : undefined;
  return {
    version: 1,
    startedAt: new Date(started).toISOString(),
    durationS: (Date.now() - started) / 1000,
    options,
    machine: { cpus: cpus().length, loadAverage: loadavg(), kernel: release() },
    backends: ALL_BACKENDS.map((b) => b.type),
    paths,
    control: [],
    ...(cni ? { cni } : {}),
    targets: evaluateTargets({ paths, control: [], ...(cni ? { cni } : {}) }),
  };
}

export async function labDownCommand(name: string): Promise<string[]> {
  return labDown(name);
}

/** The README's main job: 3 hosts × 2 containers, connectivity matrix, throughput, teardown. */
export async function labDemoCommand(
  output: Output,
  seconds: number,
): Promise<{ check: CheckReport; bench: BenchReport['paths'] }> {
  const options: LabOptions = { ...DEFAULT_LAB, name: 'fandemo' };
  output.out(
    `== fan lab demo: ${options.hosts} hosts × ${options.containers} containers, ` +
      `overlay ${options.overlays.join(', ')} over ${options.underlay}\n`,
  );
  await labDown(options.name); // a crashed earlier demo
  const topo = await labUp(options, (m) => output.out(`   ${m}\n`));
  try {
    output.out(`\n${renderTopology(topo)}\n== every container pings every other container and the outside\n`);
    const check = await labCheck(topo, progressBar('pinging'));
    output.out(renderCheck(check));
    output.out('\n== throughput and latency, fan vs the plain underlay\n');
    const bench = await measurePaths(
      topo,
      { runs: 1, seconds, streams: [1], cpuModes: ['one-cpu'], policy: false },
      (m) => output.out(`   ${m}\n`),
    );
    output.out(renderPaths(bench, seconds));
    if (check.failed > 0) throw new FanError(`${check.failed} connectivity check(s) failed`);
    return { check, bench };
  } finally {
    const removed = await labDown(options.name);
    output.out(`\n== removed the lab (${removed.length} namespaces)\n`);
  }
}

/** `fanctl lab …`: the multi-host lab in network namespaces (demo, end-to-end bed, benchmark bed). */
import Table from 'cli-table3';
import { type BenchReport, labBench } from '../../lab/bench.js';
import { type CheckReport, labCheck } from '../../lab/check.js';
import { labDown, labUp, loadLab } from '../../lab/lab.js';
import { DEFAULT_LAB, type LabOptions, type LabTopology, describeContainer } from '../../lab/topology.js';
import { FanError } from '../../core/errors.js';
import { formatCidr } from '../../core/address/ipv4.js';
import type { Output } from '../output.js';
import { progressBar, progressLine } from '../progress.js';

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
  return `${table.toString()}\n${failures.join('\n')}${failures.length ? '\n' : ''}${report.passed} passed, ${report.failed} failed\n`;
}

export function renderBench(report: BenchReport): string {
  const table = new Table({
    head: ['path', 'from → to', 'Gbit/s', 'vs underlay', 'RTT ms', 'RTT vs underlay', 'retransmits'],
    style: { head: [], border: [] },
  });
  for (const p of report.paths) {
    table.push([
      p.path,
      `${p.from} → ${p.to}`,
      p.gbitPerSec.toFixed(2),
      p.throughputRatio.toFixed(2),
      p.rttMs.toFixed(3),
      p.rttRatio.toFixed(2),
      String(p.retransmits),
    ]);
  }
  const reference =
    report.fanVsReference === undefined
      ? ''
      : `fan vs reference (cross-host throughput): ${report.fanVsReference.toFixed(2)}\n`;
  return `${table.toString()}\n${reference}(iperf3 TCP, 1 stream, ${report.seconds}s each; ping 50×; all measured in one run)\n`;
}

export function renderTopology(topo: LabTopology): string {
  const lines = [
    `lab ${topo.prefix}: ${topo.hosts.length} hosts, underlay ${topo.options.underlay}, overlays ${topo.options.overlays.join(', ')}${topo.options.dhcp ? ', DHCP' : ''}`,
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

/** Benches a running lab, or with `create` a fresh 2-host lab that is removed afterwards. */
export async function labBenchCommand(
  name: string,
  seconds: number,
  output: Output,
  create = false,
): Promise<BenchReport> {
  const progress = (m: string): void => output.err(`bench: ${m}\n`);
  if (!create) return labBench(await loadLab(name), seconds, progress);
  await labDown(name);
  const topo = await labUp({ ...DEFAULT_LAB, name, hosts: 2, containers: 2 }, progress);
  try {
    return await labBench(topo, seconds, progress);
  } finally {
    await labDown(name);
  }
}

export async function labDownCommand(name: string): Promise<string[]> {
  return labDown(name);
}

/** The README's main job: 3 hosts × 2 containers, connectivity matrix, throughput, teardown. */
export async function labDemoCommand(
  output: Output,
  seconds: number,
): Promise<{ check: CheckReport; bench: BenchReport }> {
  const options: LabOptions = { ...DEFAULT_LAB, name: 'fandemo' };
  output.out(
    `== fan lab demo: ${options.hosts} hosts × ${options.containers} containers, overlay ${options.overlays.join(', ')} over ${options.underlay}\n`,
  );
  await labDown(options.name); // a crashed earlier demo
  const topo = await labUp(options, (m) => output.out(`   ${m}\n`));
  try {
    output.out(`\n${renderTopology(topo)}\n== every container pings every other container and the outside\n`);
    const check = await labCheck(topo, progressBar('pinging'));
    output.out(renderCheck(check));
    output.out('\n== throughput and latency, fan vs the plain underlay\n');
    const bench = await labBench(topo, seconds, (m) => output.out(`   ${m}\n`));
    output.out(renderBench(bench));
    if (check.failed > 0) throw new FanError(`${check.failed} connectivity check(s) failed`);
    return { check, bench };
  } finally {
    const removed = await labDown(options.name);
    output.out(`\n== removed the lab (${removed.length} namespaces)\n`);
  }
}

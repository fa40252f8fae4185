/** `fanctl lab bench --cni`: the CNI attach section of the bench (src/lab/cni-bench.ts) and its table. */
import Table from 'cli-table3';
import { type CallStats, type CniBenchOptions, type CniBenchReport, cniBench } from '../../lab/cni-bench.js';
import { labDown, labUp, loadLab } from '../../lab/lab.js';
import { DEFAULT_LAB } from '../../lab/topology.js';
import type { Output } from '../output.js';

const ms = (n: number): string => n.toFixed(1);
const pair = (s: CallStats | undefined): string => (s ? `${ms(s.p50)} / ${ms(s.p95)}` : '');

export function renderCniBench(report: CniBenchReport): string {
  const m = report.median;
  const table = new Table({
    head: ['CNI (ms, median of runs)', 'fan (agent)', 'reference bridge + host-local', 'fan without agent'],
    style: { head: [], border: [] },
  });
  table.push(['ADD p50 / p95', pair(m.fanAdd), pair(m.refAdd), pair(m.inProcessAdd)]);
  table.push(['DEL p50 / p95', pair(m.fanDel), pair(m.refDel), pair(m.inProcessDel)]);
  table.push([`${report.options.concurrent} concurrent ADDs, total`, ms(m.fanConcurrentMs), ms(m.refConcurrentMs), '']);
  const runs = new Table({
    head: [
      'run',
      'fan ADD p50/p95',
      'ref ADD p50/p95',
      'fan DEL p50/p95',
      'ref DEL p50/p95',
      `fan ${report.options.concurrent}×`,
      `ref ${report.options.concurrent}×`,
      'floor',
    ],
    style: { head: [], border: [] },
  });
  report.runs.forEach((r, i) =>
    runs.push([
      String(i + 1),
      pair(r.fanAdd),
      pair(r.refAdd),
      pair(r.fanDel),
      pair(r.refDel),
      ms(r.fanConcurrentMs),
      ms(r.refConcurrentMs),
      ms(r.floorMs),
    ]),
  );
  const targets = new Table({
    head: ['target', 'fan / reference', 'raw', 'limit', 'holds'],
    style: { head: [], border: [] },
  });
  for (const t of report.targets)
    targets.push([t.name, t.ratio.toFixed(2), t.rawRatio.toFixed(2), `≤ ${t.limit}`, t.holds ? 'yes' : 'NO']);
  return [
    table.toString(),
    runs.toString(),
    targets.toString(),
    `(${report.runs.length} runs; each call is the plugin executable run in the lab host's namespace; ` +
      `ratios net of entering it, ${ms(m.floorMs)} ms; "raw" includes it)`,
    '',
  ].join('\n');
}

/** Measures a running lab, or with `create` a fresh 1-host lab named `name` that is removed afterwards. */
export async function labCniBenchCommand(
  name: string,
  options: CniBenchOptions,
  output: Output,
  create = false,
): Promise<CniBenchReport> {
  const progress = (line: string): void => output.err(`bench cni: ${line}\n`);
  if (!create) return cniBench(await loadLab(name), options, progress);
  await labDown(name);
  const topo = await labUp({ ...DEFAULT_LAB, name, hosts: 1, containers: 0 }, progress);
  try {
    return await cniBench(topo, options, progress);
  } finally {
    await labDown(name);
  }
}

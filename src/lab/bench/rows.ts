/** The bench's tables as rows of text (the CLI draws them with cli-table3). Pure. */
import type { BenchReport, Target } from './model.js';
import { type Summary, relativeSpread } from './stats.js';

const withSpread = (s: Summary, digits: number): string =>
  s.runs.length > 1
    ? `${s.median.toFixed(digits)} ±${(relativeSpread(s) * 100).toFixed(0)}%`
    : s.median.toFixed(digits);

export function pathTable(report: BenchReport): { head: string[]; rows: string[][] } {
  const streams = [...new Set(report.paths.flatMap((p) => Object.keys(p.streams)))].sort(
    (a, b) => Number(a) - Number(b),
  );
  const head = [
    'path',
    'MTU',
    'CPUs',
    ...streams.flatMap((s) => [`${s} stream${s === '1' ? '' : 's'} Gbit/s`, 'ratio']),
    'RTT ms',
    'ratio',
  ];
  const rows = report.paths.map((p) => [
    p.label,
    String(p.mtu),
    p.cpu === 'one-cpu' ? 'one' : 'split',
    ...streams.flatMap((s) => {
      const t = p.streams[s];
      return t ? [withSpread(t.gbit, 2), t.ratio.median.toFixed(2)] : ['', ''];
    }),
    p.rtt ? withSpread(p.rtt.ms, 3) : '',
    p.rtt ? p.rtt.ratio.median.toFixed(2) : '',
  ]);
  return { head, rows };
}

export function controlTable(report: BenchReport): { head: string[]; rows: string[][] } {
  return {
    head: [
      'underlay',
      'hosts',
      'fanctl up fresh ms (CPU)',
      'up converged ms (CPU)',
      'fan objects',
      'reference install ms',
      'reference objects',
    ],
    rows: report.control.map((c) => [
      `/${c.underlayPrefix}`,
      String(c.hosts),
      `${withSpread(c.fanUpFreshMs, 0)} (${c.fanUpFreshCpuMs.median.toFixed(0)})`,
      `${withSpread(c.fanUpConvergedMs, 0)} (${c.fanUpConvergedCpuMs.median.toFixed(0)})`,
      String(c.fanObjects),
      c.referenceInstallMs.toFixed(0),
      String(c.referenceObjects),
    ]),
  };
}

export function targetTable(targets: readonly Target[]): { head: string[]; rows: string[][] } {
  return {
    head: ['target', 'result'],
    rows: targets.map((t) => [
      t.name,
      t.holds === undefined ? `- ${t.detail}` : t.holds ? t.detail : `NO: ${t.detail}`,
    ]),
  };
}

/** One line with every held/missed count, for the end of the output. */
export function targetSummary(targets: readonly Target[]): string {
  const held = targets.filter((t) => t.holds === true).length;
  const missed = targets.filter((t) => t.holds === false).length;
  return `${held} targets held, ${missed} missed, ${targets.length - held - missed} not measured in this run`;
}

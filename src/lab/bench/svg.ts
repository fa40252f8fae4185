/**
 * The bench's chart as hand-written SVG (no dependency): for each measured path, the median ratio to the underlay
 * of every throughput column and of the RTT, with the runs' spread as a whisker, a line at 1.0 (the underlay) and
 * the issue's targets as ticks; then fan's CNI times against the reference plugins. Pure.
 */
import type { BenchReport, PathRow } from './model.js';
import { wireFormatOf } from '../../backends/registry.js';
import type { Summary } from './stats.js';

const WIDTH = 960;
const LABEL_W = 330;
const BAR_H = 14;
const GAP = 4;
const PLOT_W = WIDTH - LABEL_W - 90;
const SCALE_CAP = 2;

const COLORS = ['#2b6cb0', '#63b3ed', '#2f855a', '#68d391', '#b7791f', '#f6ad55', '#6b46c1', '#b794f4'];
const RTT_COLOR = '#c53030';

export function escapeXml(text: string): string {
  return text.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c,
  );
}

interface Bar {
  readonly label: string;
  readonly value: Summary;
  readonly color: string;
  /** A target tick on this bar. */
  readonly target?: number;
}

interface Group {
  readonly title: string;
  readonly bars: readonly Bar[];
}

function targetFor(row: PathRow, streams: string, mtu: number): number | undefined {
  if (row.kind !== 'backend' || row.cpu !== 'one-cpu') return undefined;
  // A wire format's targets apply to its kernel path and its fast path alike.
  const format = wireFormatOf(row.backend);
  if (format === 'vxlan') return streams === '4' ? 0.95 : mtu === 9000 ? 0.93 : 0.9;
  if (format === 'host-gw' && streams === '1') return 0.97;
  return undefined;
}

function pathGroups(report: BenchReport): Group[] {
  const rows = report.paths.filter((p) => p.kind !== 'underlay' && p.kind !== 'policy-ab');
  const labels = [...new Set(rows.map((r) => r.label))];
  const series = [...new Set(rows.flatMap((r) => Object.keys(r.streams).map((s) => `${s}|${r.mtu}|${r.cpu}`)))].sort();
  return labels.map((label) => {
    const bars: Bar[] = [];
    for (const r of rows.filter((x) => x.label === label)) {
      for (const [s, t] of Object.entries(r.streams)) {
        const target = targetFor(r, s, r.mtu);
        bars.push({
          label: `${s} stream${s === '1' ? '' : 's'}, MTU ${r.mtu}${r.cpu === 'split-cpu' ? ', split CPUs' : ''}`,
          value: t.ratio,
          color: COLORS[series.indexOf(`${s}|${r.mtu}|${r.cpu}`) % COLORS.length] ?? '#444',
          ...(target !== undefined ? { target } : {}),
        });
      }
      if (r.rtt && r.cpu === 'one-cpu')
        bars.push({ label: `RTT, MTU ${r.mtu} (lower is better)`, value: r.rtt.ratio, color: RTT_COLOR, target: 1.3 });
    }
    return { title: label, bars };
  });
}

function cniGroup(report: BenchReport): Group | undefined {
  const cni = report.cni;
  if (!cni) return undefined;
  const one = (v: number): Summary => ({ median: v, min: v, max: v, runs: [v] });
  return {
    title: 'CNI: fan (agent) / bridge + host-local (lower is better)',
    bars: cni.targets.map((t) => ({ label: t.name, value: one(t.ratio), color: '#4a5568', target: t.limit })),
  };
}

export function renderSvg(report: BenchReport): string {
  const groups = [...pathGroups(report), ...[cniGroup(report)].filter((g): g is Group => g !== undefined)];
  const values = groups.flatMap((g) => g.bars.flatMap((b) => [b.value.max, b.target ?? 0]));
  // Capped at 2: a ratio past it (a slow CNI run) is drawn to the edge with its value, not squeezing the rest.
  const scaleMax = Math.min(SCALE_CAP, Math.max(1.2, Math.ceil(Math.max(0, ...values) * 5) / 5));
  const x = (v: number): number => LABEL_W + (Math.min(Math.max(0, v), scaleMax) / scaleMax) * PLOT_W;
  const parts: string[] = [];
  let y = 58;
  for (const g of groups) {
    parts.push(`<text x="8" y="${y + 11}" class="group">${escapeXml(g.title)}</text>`);
    y += 18;
    for (const b of g.bars) {
      const w = Math.max(1, x(b.value.median) - LABEL_W);
      parts.push(
        `<text x="${LABEL_W - 8}" y="${y + 11}" class="bar" text-anchor="end">${escapeXml(b.label)}</text>`,
        `<rect x="${LABEL_W}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${b.color}"/>`,
      );
      if (b.value.max > b.value.min)
        parts.push(
          `<line x1="${x(b.value.min).toFixed(1)}" x2="${x(b.value.max).toFixed(1)}" y1="${y + BAR_H / 2}" y2="${y + BAR_H / 2}" class="whisker"/>`,
        );
      if (b.target !== undefined)
        parts.push(
          `<line x1="${x(b.target).toFixed(1)}" x2="${x(b.target).toFixed(1)}" y1="${y - 2}" y2="${y + BAR_H + 2}" class="target"/>`,
        );
      parts.push(
        `<text x="${(x(b.value.median) + 6).toFixed(1)}" y="${y + 11}" class="value">${b.value.median.toFixed(2)}${b.value.median > scaleMax ? ' ▶' : ''}</text>`,
      );
      y += BAR_H + GAP;
    }
    y += 10;
  }
  const height = y + 30;
  const ticks: string[] = [];
  for (let v = 0; v <= scaleMax + 1e-9; v += 0.2) {
    ticks.push(
      `<line x1="${x(v).toFixed(1)}" x2="${x(v).toFixed(1)}" y1="48" y2="${y}" class="${Math.abs(v - 1) < 1e-9 ? 'one' : 'grid'}"/>`,
      `<text x="${x(v).toFixed(1)}" y="${y + 16}" class="tick" text-anchor="middle">${v.toFixed(1)}</text>`,
    );
  }
  const o = report.options;
  const subtitle =
    `${report.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${report.machine.cpus} CPUs (load ${report.machine.loadAverage[0]?.toFixed(1) ?? '?'}), ` +
    `iperf3 TCP ${o.seconds} s × ${o.runs} runs, each bracketed by underlay runs; bar: median, whisker: min–max, tick: target`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    '<style>.group{font-size:13px;font-weight:bold}.bar,.value,.tick{font-size:11px}.sub{font-size:11px;fill:#555}' +
      '.grid{stroke:#e2e8f0}.one{stroke:#1a202c;stroke-dasharray:4 2}.whisker{stroke:#1a202c;stroke-width:1.5}' +
      '.target{stroke:#e53e3e;stroke-width:2}</style>',
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="8" y="20" font-size="16" font-weight="bold">fan lab bench: ratio to the underlay (1.0 = the underlay)</text>`,
    `<text x="8" y="38" class="sub">${escapeXml(subtitle)}</text>`,
    ...ticks,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

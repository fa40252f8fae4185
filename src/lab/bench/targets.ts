/**
 * The issue's targets, judged on a bench report's medians: each held, missed (with by how much) or not measured
 * in this run. Pure.
 */
import type { CniBenchReport } from '../cni-bench.js';
import type { ControlRow, CpuMode, PathRow, Target } from './model.js';
import { wireFormatOf } from '../../backends/registry.js';

interface Input {
  readonly paths: readonly PathRow[];
  readonly control: readonly ControlRow[];
  readonly cni?: CniBenchReport;
}

const fmt = (n: number, unit: Target['unit']): string =>
  unit === 's' ? `${n.toFixed(3)} s` : `${n.toFixed(2)}${unit === 'x' ? '×' : ''}`;

export function judge(
  id: string,
  name: string,
  value: number | undefined,
  comparison: Target['comparison'],
  limit: number,
  unit: Target['unit'] = '',
  why = 'not measured in this run',
): Target {
  if (value === undefined || !Number.isFinite(value)) return { id, name, limit, comparison, unit, detail: why };
  const holds = comparison === '>=' ? value >= limit : value <= limit;
  const gap = Math.abs(value - limit);
  const detail = holds
    ? `held (${fmt(value, unit)} ${comparison === '>=' ? '≥' : '≤'} ${fmt(limit, unit)})`
    : `missed by ${fmt(gap, unit)} (${fmt(value, unit)}, needs ${comparison === '>=' ? '≥' : '≤'} ${fmt(limit, unit)})`;
  return { id, name, value, limit, comparison, unit, holds, detail };
}

/** The row of a path at an MTU, preferring the one-CPU mode the targets are stated for. */
function row(paths: readonly PathRow[], pick: (p: PathRow) => boolean, mtu: number, cpu: CpuMode = 'one-cpu') {
  return paths.find((p) => pick(p) && p.mtu === mtu && p.cpu === cpu);
}

const isBackend = (type: string) => (p: PathRow) => p.kind === 'backend' && p.backend === type;

/**
 * A wire format is carried by its kernel path and its fast path alike (vxlan and vxlan-fast, host-gw and
 * host-gw-fast): a target for the format is judged on the faster of their rows at that MTU.
 */
function best(paths: readonly PathRow[], format: string, mtu: number): PathRow | undefined {
  const rows = paths.filter(
    (p) => p.kind === 'backend' && wireFormatOf(p.backend) === format && p.mtu === mtu && p.cpu === 'one-cpu',
  );
  const single = (p: PathRow): number => p.streams['1']?.ratio.median ?? -1;
  return rows.reduce<PathRow | undefined>((a, p) => (a === undefined || single(p) > single(a) ? p : a), undefined);
}

const which = (p: PathRow | undefined): string => (p?.backend !== undefined ? ` (${p.backend})` : '');

export function evaluateTargets({ paths, control, cni }: Input): Target[] {
  const targets: Target[] = [];
  const single = (p: PathRow | undefined): number | undefined => p?.streams['1']?.ratio.median;
  for (const [mtu, limit] of [
    [1500, 0.9],
    [9000, 0.93],
  ] as const) {
    const vxAt = best(paths, 'vxlan', mtu);
    targets.push(
      judge(
        `vxlan-single-${mtu}`,
        `fan vxlan${which(vxAt)} single stream ≥ ${limit} of the underlay at MTU ${mtu}`,
        single(vxAt),
        '>=',
        limit,
      ),
    );
  }
  const vx = best(paths, 'vxlan', 1500);
  const ref = row(paths, (p) => p.kind === 'reference', 1500);
  const vxSingle = single(vx);
  const refSingle = single(ref);
  targets.push(
    judge(
      'vxlan-vs-reference',
      `fan vxlan${which(vx)} single stream ≥ 1.15× the flannel-style reference (MTU 1500, same run)`,
      vxSingle !== undefined && refSingle !== undefined && refSingle > 0 ? vxSingle / refSingle : undefined,
      '>=',
      1.15,
      'x',
    ),
  );
  targets.push(
    judge(
      'vxlan-4-streams',
      `fan vxlan${which(vx)} 4 streams ≥ 0.95 of the underlay (MTU 1500)`,
      vx?.streams['4']?.ratio.median,
      '>=',
      0.95,
    ),
  );
  const gw = best(paths, 'host-gw', 1500);
  targets.push(
    judge(
      'host-gw-single',
      `fan host-gw${which(gw)} single stream ≥ 0.97 of the underlay (MTU 1500)`,
      single(gw),
      '>=',
      0.97,
    ),
  );
  // Every fan path (every backend, same host, with policy), at every MTU measured.
  const fanPaths = paths.filter(
    (p) => p.kind !== 'underlay' && p.kind !== 'reference' && p.kind !== 'policy-ab' && p.cpu === 'one-cpu',
  );
  const worstRtt = fanPaths.reduce<PathRow | undefined>(
    (worst, p) => ((p.rtt?.ratio.median ?? 0) > (worst?.rtt?.ratio.median ?? -1) ? p : worst),
    undefined,
  );
  targets.push(
    judge(
      'rtt',
      `RTT of every fan path ≤ 1.3× the underlay's${worstRtt ? ` (worst: ${worstRtt.label}, MTU ${worstRtt.mtu})` : ''}`,
      worstRtt?.rtt?.ratio.median,
      '<=',
      1.3,
      'x',
    ),
  );
  // Measured alternately with and without the policy when the run did so; else the two rows' underlay ratios.
  const ab = single(row(paths, (p) => p.kind === 'policy-ab', 1500));
  const policySingle = single(row(paths, (p) => p.kind === 'policy', 1500));
  // The policy is applied to the plain vxlan pair (the fast path is off while a policy is loaded).
  const plainSingle = single(row(paths, isBackend('vxlan'), 1500));
  const viaUnderlay =
    policySingle !== undefined && plainSingle !== undefined && plainSingle > 0 ? policySingle / plainSingle : undefined;
  targets.push(
    judge(
      'policy',
      'fan vxlan with a 20-group / 200-rule policy ≥ 0.95 of fan vxlan without (MTU 1500)',
      ab ?? viaUnderlay,
      '>=',
      0.95,
    ),
  );
  if (cni) {
    const [p50, p95, conc] = cni.targets;
    targets.push(judge('cni-add-p50', 'CNI ADD p50 ≤ 1.5× bridge + host-local', p50?.ratio, '<=', 1.5, 'x'));
    targets.push(judge('cni-add-p95', 'CNI ADD p95 ≤ 2× bridge + host-local', p95?.ratio, '<=', 2, 'x'));
    targets.push(
      judge(
        'cni-concurrent',
        `${cni.options.concurrent} concurrent CNI ADDs ≤ 2× bridge + host-local`,
        conc?.ratio,
        '<=',
        2,
        'x',
      ),
    );
  } else {
    for (const [id, name] of [
      ['cni-add-p50', 'CNI ADD p50 ≤ 1.5× bridge + host-local'],
      ['cni-add-p95', 'CNI ADD p95 ≤ 2× bridge + host-local'],
      ['cni-concurrent', '200 concurrent CNI ADDs ≤ 2× bridge + host-local'],
    ] as const)
      targets.push(judge(id, name, undefined, '<=', id === 'cni-add-p50' ? 1.5 : 2, 'x'));
  }
  const slowest = (pick: (c: ControlRow) => number): number | undefined =>
    control.length ? Math.max(...control.map(pick)) : undefined;
  const sizes = control.map((c) => `/${c.underlayPrefix}`).join(' ');
  targets.push(
    judge(
      'up-converged',
      `fanctl up ≤ 0.3 s on a converged host (slowest of ${sizes || 'no underlay'})`,
      mapMs(slowest((c) => c.fanUpConvergedMs.median)),
      '<=',
      0.3,
      's',
    ),
  );
  targets.push(
    judge(
      'up-fresh',
      `fanctl up ≤ 0.5 s from nothing (slowest of ${sizes || 'no underlay'})`,
      mapMs(slowest((c) => c.fanUpFreshMs.median)),
      '<=',
      0.5,
      's',
    ),
  );
  const counts = new Set(control.map((c) => c.fanObjects));
  targets.push(
    control.length < 2
      ? judge(
          'objects',
          'kernel objects per host identical for every underlay size',
          undefined,
          '<=',
          0,
          '',
          'needs two or more underlay sizes',
        )
      : {
          id: 'objects',
          name: `kernel objects per host identical for ${sizes}`,
          value: counts.size - 1,
          limit: 0,
          comparison: '<=',
          unit: '',
          holds: counts.size === 1,
          detail:
            counts.size === 1
              ? `held (${[...counts][0]} objects for each)`
              : `missed: ${control.map((c) => `/${c.underlayPrefix} ${c.fanObjects}`).join(', ')}`,
        },
  );
  return targets;
}

const mapMs = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : ms / 1000);

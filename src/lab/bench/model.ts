/**
 * The bench report as data (what `--json` writes): data-plane rows, control-plane rows, the CNI section and the
 * issue's targets, each judged. Pure types and the suite's presets.
 */
import type { CniBenchReport } from '../cni-bench.js';
import type { CniBenchOptions } from './options.js';
import type { Summary } from './stats.js';

/** Where iperf3's client and server run: both on CPU 0, or client on CPU 0 and server on CPU 1. */
export type CpuMode = 'one-cpu' | 'split-cpu';

/**
 * `policy-ab`: the policy row measured against the same path without the policy, alternately (X P X P … X), so
 * its ratio columns are over fan vxlan without the policy, not over the underlay: the policy target's figure.
 */
export type PathKind = 'underlay' | 'backend' | 'reference' | 'same-host' | 'policy' | 'policy-ab';

/** Which path a row measures. `backend` rows name the registry's backend type. */
export interface PathId {
  readonly kind: PathKind;
  /** The backend type for `backend` rows (vxlan, host-gw, …); vxlan for `policy` and `same-host`. */
  readonly backend?: string;
}

export interface Throughput {
  readonly gbit: Summary;
  /** Each run over the mean of the underlay runs that bracket it. */
  readonly ratio: Summary;
  readonly retransmits: number;
}

export interface PathRow extends PathId {
  readonly label: string;
  readonly mtu: number;
  readonly cpu: CpuMode;
  /** Keyed by the number of parallel streams (1, 4). */
  readonly streams: Readonly<Record<string, Throughput>>;
  readonly rtt?: { readonly ms: Summary; readonly ratio: Summary };
}

export interface ControlRow {
  /** The underlay's prefix length (24, 20, 16). */
  readonly underlayPrefix: number;
  /** Hosts the underlay holds (the peers the reference installs state for, plus this one). */
  readonly hosts: number;
  /** `fanctl up` wall time on a host without the fan, and on a host already converged (ms). */
  readonly fanUpFreshMs: Summary;
  readonly fanUpConvergedMs: Summary;
  /** The CPU time (user + system) of the same calls, fanctl and every tool it ran: what the load does not change. */
  readonly fanUpFreshCpuMs: Summary;
  readonly fanUpConvergedCpuMs: Summary;
  /** Kernel objects `fanctl up` added to the host (links, addresses, routes, neighbours, fdb, nexthops, nft rules, tc filters). */
  readonly fanObjects: number;
  /** The flannel-style reference: per-peer nexthop + route + neighbour + fdb, installed with ip/bridge -batch. */
  readonly referenceInstallMs: number;
  readonly referenceObjects: number;
}

export interface Target {
  readonly id: string;
  readonly name: string;
  /** What was measured (median); undefined when this run did not measure it. */
  readonly value?: number;
  readonly limit: number;
  readonly comparison: '>=' | '<=';
  readonly unit: '' | 'x' | 's';
  readonly holds?: boolean;
  /** How far from the limit, as text ("short by 0.12"), or why it was not measured. */
  readonly detail: string;
}

export interface SuiteOptions {
  readonly runs: number;
  readonly seconds: number;
  readonly mtus: readonly number[];
  readonly streams: readonly number[];
  readonly cpuModes: readonly CpuMode[];
  /** Underlay prefixes of the control-plane rows (none: skip them). */
  readonly underlays: readonly number[];
  /** Samples of `fanctl up` per underlay and state (fresh, converged). */
  readonly upSamples: number;
  readonly policy: boolean;
  /** undefined: no CNI section. */
  readonly cni?: CniBenchOptions;
}

export interface BenchReport {
  readonly version: 1;
  readonly startedAt: string;
  readonly durationS: number;
  readonly options: SuiteOptions;
  readonly machine: { readonly cpus: number; readonly loadAverage: readonly number[]; readonly kernel: string };
  /** The backend types the registry held (a row each). */
  readonly backends: readonly string[];
  readonly paths: readonly PathRow[];
  readonly control: readonly ControlRow[];
  readonly cni?: CniBenchReport;
  readonly targets: readonly Target[];
}

/** `npm run bench`: MTU 1500, 1 and 4 streams on one CPU, 3 runs; control plane for /24 /20 /16; CNI. */
export const DEFAULT_SUITE: SuiteOptions = {
  runs: 3,
  seconds: 3,
  mtus: [1500],
  streams: [1, 4],
  cpuModes: ['one-cpu'],
  underlays: [24, 20, 16],
  upSamples: 5,
  policy: true,
  cni: { runs: 3, sequential: 100, concurrent: 200, inProcess: 5 },
};

/** `--full`: everything the issue names: MTU 1500 and 9000, both CPU modes, 5 runs. */
export const FULL_SUITE: SuiteOptions = {
  ...DEFAULT_SUITE,
  runs: 5,
  seconds: 5,
  mtus: [1500, 9000],
  cpuModes: ['one-cpu', 'split-cpu'],
  upSamples: 7,
  cni: { runs: 3, sequential: 100, concurrent: 200, inProcess: 10 },
};

/** `--quick` (CI): every row and section once, briefly; checks the suite works, its figures mean little. */
export const QUICK_SUITE: SuiteOptions = {
  runs: 1,
  seconds: 1,
  mtus: [1500],
  streams: [1, 4],
  cpuModes: ['one-cpu'],
  underlays: [24],
  upSamples: 1,
  policy: true,
  cni: { runs: 1, sequential: 10, concurrent: 20, inProcess: 0 },
};

export function pathLabel(id: PathId): string {
  switch (id.kind) {
    case 'underlay':
      return 'underlay host→host';
    case 'backend':
      return `fan ${id.backend ?? '?'} cross-host`;
    case 'reference':
      return 'reference (flannel-style, per-peer state) cross-host';
    case 'same-host':
      return 'fan same host (bridge)';
    case 'policy':
      return `fan ${id.backend ?? 'vxlan'} + 20-group policy cross-host`;
    case 'policy-ab':
      return `fan ${id.backend ?? 'vxlan'} + policy over the same without (alternating; not the underlay)`;
  }
}

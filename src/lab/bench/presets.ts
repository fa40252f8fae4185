/** The bench command's options turned into the suite's options: a preset, then what the command line overrides. Pure. */
import { ConfigError } from '../../core/errors.js';
import { type CpuMode, DEFAULT_SUITE, FULL_SUITE, QUICK_SUITE, type SuiteOptions } from './model.js';
import { DEFAULT_CNI_BENCH } from './options.js';

export interface BenchCliOptions {
  name: string;
  create?: boolean;
  quick?: boolean;
  full?: boolean;
  runs?: string;
  seconds?: string;
  mtu?: string;
  streams?: string;
  cpu?: string;
  underlays?: string;
  policy?: boolean;
  cni?: boolean;
  cniOnly?: boolean;
  cniRuns?: string;
  cniCalls?: string;
  cniConcurrent?: string;
  cniInProcess?: string;
  json?: string | boolean;
  svg?: string;
}

function count(text: string | undefined, what: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(`${what} ${text} is out of range`, `give a whole number from ${min} to ${max}`);
  return n;
}

function list(text: string | undefined, what: string, min: number, max: number): number[] | undefined {
  if (text === undefined) return undefined;
  if (text === 'none') return [];
  return text.split(',').map((t) => count(t.trim(), what, min, max) ?? 0);
}

function cpuModes(text: string | undefined): CpuMode[] | undefined {
  if (text === undefined) return undefined;
  return text.split(',').map((t): CpuMode => {
    if (t === 'one' || t === 'one-cpu') return 'one-cpu';
    if (t === 'split' || t === 'split-cpu') return 'split-cpu';
    throw new ConfigError(`--cpu ${text}: unknown mode "${t}"`, 'give one, split, or one,split');
  });
}

export function suiteOptions(o: BenchCliOptions, create: boolean): SuiteOptions {
  if (o.quick && o.full) throw new ConfigError('--quick and --full contradict each other', 'give one of them');
  const preset = o.quick ? QUICK_SUITE : o.full ? FULL_SUITE : DEFAULT_SUITE;
  // On a running lab the CNI section is asked for with --cni; in fresh labs it is on unless --no-cni.
  const wantCni = o.cniOnly === true || (create ? o.cni !== false : o.cni === true);
  const cniBase = preset.cni ?? DEFAULT_CNI_BENCH;
  const cni = {
    runs: count(o.cniRuns, '--cni-runs', 1, 100) ?? cniBase.runs,
    sequential: count(o.cniCalls, '--cni-calls', 1, 10_000) ?? cniBase.sequential,
    concurrent: count(o.cniConcurrent, '--cni-concurrent', 1, 1000) ?? cniBase.concurrent,
    inProcess: count(o.cniInProcess, '--cni-in-process', 0, 1000) ?? cniBase.inProcess,
  };
  return {
    runs: count(o.runs, '--runs', 1, 100) ?? preset.runs,
    seconds: count(o.seconds, '--seconds', 1, 600) ?? preset.seconds,
    mtus: list(o.mtu, '--mtu', 1280, 9000) ?? preset.mtus,
    streams: list(o.streams, '--streams', 1, 128) ?? preset.streams,
    cpuModes: cpuModes(o.cpu) ?? preset.cpuModes,
    underlays: create ? (list(o.underlays, '--underlays', 16, 28) ?? preset.underlays) : [],
    upSamples: preset.upSamples,
    policy: o.policy !== false && preset.policy,
    ...(wantCni ? { cni } : {}),
  };
}

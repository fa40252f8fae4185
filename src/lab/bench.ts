/**
 * `fanctl lab bench`: the data plane measured side by side in one run. Rows: the plain underlay (host to host, the
 * limit), fan across hosts with every backend of the registry (the lab's vxlan fan, and one extra fan per other
 * type), the flannel-style reference with per-peer state, fan on one host, and fan vxlan with a 20-group isolation
 * policy applied. Columns: iperf3 TCP with 1 and 4 streams, and ping RTT. iperf3's client and server are pinned
 * (both on CPU 0, or split over CPUs 0 and 1 as a second figure), and every run of a row sits between two underlay
 * runs, its ratio taken against their mean: this machine's speed drifts from run to run.
 * `runSuite` builds the labs (one per MTU), adds the control-plane rows (src/lab/control-bench.ts) and the CNI
 * section (src/lab/cni-bench.ts), and judges the issue's targets (src/lab/bench/targets.ts).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release } from 'node:os';
import { formatIpv4 } from '../core/address/ipv4.js';
import { FanError } from '../core/errors.js';
import { ALL_BACKENDS } from '../backends/registry.js';
import { containerAddress, fanctl, labDown, labUp } from './lab.js';
import { inNs } from './shell.js';
import { DEFAULT_LAB, type LabTopology } from './topology.js';
import { buildReference, removeReference } from './reference.js';
import { addExtraFan, extraTypes, removeExtraFan } from './extra-fan.js';
import { benchPolicyText } from './bench/policy-gen.js';
import {
  type BenchReport,
  type CpuMode,
  type PathId,
  type PathRow,
  type SuiteOptions,
  type Throughput,
  pathLabel,
} from './bench/model.js';
import { bracketedRatios, median, summarize } from './bench/stats.js';
import { evaluateTargets } from './bench/targets.js';
import { controlBench } from './control-bench.js';
import { cniBench } from './cni-bench.js';

export type Progress = (line: string) => void;

export interface PathBenchOptions {
  readonly runs: number;
  readonly seconds: number;
  readonly streams: readonly number[];
  readonly cpuModes: readonly CpuMode[];
  readonly policy: boolean;
}

interface Endpoint {
  readonly ns: string;
  readonly name: string;
  readonly address: string;
}

interface Pair extends PathId {
  readonly server: Endpoint;
  readonly client: Endpoint;
}

/** One measurement of a path: Gbit/s per stream count, retransmits, RTT. */
interface Sample {
  readonly gbit: Readonly<Record<string, number>>;
  readonly retransmits: Readonly<Record<string, number>>;
  readonly rttMs: number;
}

const CPUS: Readonly<Record<CpuMode, { client: number; server: number }>> = {
  'one-cpu': { client: 0, server: 0 },
  'split-cpu': { client: 0, server: 1 },
};

let nextPort = 5201;

async function iperf(
  stateDir: string,
  pair: Pair,
  seconds: number,
  streams: number,
  cpu: CpuMode,
): Promise<{ gbit: number; retransmits: number }> {
  const port = nextPort;
  nextPort = nextPort >= 5900 ? 5201 : nextPort + 1;
  const { client, server } = pair;
  const pin = CPUS[cpu];
  const pidFile = `${stateDir}/iperf3-${port}.pid`;
  await inNs(server.ns).run([
    'taskset',
    '-c',
    String(pin.server),
    'iperf3',
    '-s',
    '-1',
    '-D',
    '-B',
    server.address,
    '-p',
    String(port),
    '-I',
    pidFile,
  ]);
  try {
    for (let attempt = 0; ; attempt++) {
      const out = await inNs(client.ns).run(
        [
          'taskset',
          '-c',
          String(pin.client),
          'iperf3',
          '-c',
          server.address,
          '-p',
          String(port),
          '-t',
          String(seconds),
          '-P',
          String(streams),
          '-J',
        ],
        { allowFailure: true, timeoutMs: (seconds + 20) * 1000 },
      );
      if (out.exitCode === 0) {
        const json = JSON.parse(out.stdout) as {
          end?: { sum_received?: { bits_per_second?: number }; sum_sent?: { retransmits?: number } };
        };
        return {
          gbit: (json.end?.sum_received?.bits_per_second ?? 0) / 1e9,
          retransmits: json.end?.sum_sent?.retransmits ?? 0,
        };
      }
      if (attempt >= 10)
        throw new FanError(`iperf3 ${client.name} → ${server.name} failed: ${out.stdout.slice(0, 300)}${out.stderr}`);
      await new Promise((r) => setTimeout(r, 100)); // the daemonised server may not listen yet
    }
  } finally {
    const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).replace(/\0/g, '').trim());
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // it exits by itself after one test (-1)
      }
    }
  }
}

async function rtt(client: Endpoint, target: string, count: number): Promise<number> {
  const out = await inNs(client.ns).run(['ping', '-n', '-q', '-c', String(count), '-i', '0.01', target]);
  const match = /= [\d.]+\/([\d.]+)\//.exec(out.stdout);
  if (!match) throw new FanError(`no RTT from ping ${client.name} → ${target}: ${out.stdout}`);
  return Number(match[1]);
}

async function sample(stateDir: string, pair: Pair, o: PathBenchOptions, cpu: CpuMode): Promise<Sample> {
  const gbit: Record<string, number> = {};
  const retransmits: Record<string, number> = {};
  for (const s of o.streams) {
    const t = await iperf(stateDir, pair, o.seconds, s, cpu);
    gbit[String(s)] = t.gbit;
    retransmits[String(s)] = t.retransmits;
  }
  return { gbit, retransmits, rttMs: await rtt(pair.client, pair.server.address, o.runs > 1 ? 50 : 20) };
}

/** A row from its samples; `brackets` turns the samples of one figure into ratios. */
function rowOf(
  topo: LabTopology,
  o: PathBenchOptions,
  cpu: CpuMode,
  id: PathId,
  samples: readonly Sample[],
  brackets: (s: readonly Sample[], pick: (s: Sample) => number) => number[],
): PathRow {
  const streams: Record<string, Throughput> = {};
  for (const s of o.streams.map(String)) {
    const gbit = samples.map((v) => v.gbit[s] ?? 0);
    streams[s] = {
      gbit: summarize(gbit),
      ratio: summarize(brackets(samples, (v) => v.gbit[s] ?? 0)),
      retransmits: samples.reduce((sum, v) => sum + (v.retransmits[s] ?? 0), 0),
    };
  }
  return {
    ...id,
    label: pathLabel(id),
    mtu: topo.options.underlayMtu,
    cpu,
    streams,
    rtt: { ms: summarize(samples.map((v) => v.rttMs)), ratio: summarize(brackets(samples, (v) => v.rttMs)) },
  };
}

/**
 * The policy's own cost, without the underlay's drift in between: the same pair alternately without and with
 * the policy (X₀ P₁ X₁ … Pₙ Xₙ), each policed run over the mean of the two unpoliced runs around it. Leaves the
 * policy removed.
 */
async function measurePolicyAb(
  topo: LabTopology,
  pair: Pair,
  o: PathBenchOptions,
  cpu: CpuMode,
  policy: { apply: () => Promise<void>; remove: () => Promise<void> },
  progress: Progress,
): Promise<PathRow> {
  await policy.remove();
  const plain: Sample[] = [await sample(topo.stateDir, pair, o, cpu)];
  const policed: Sample[] = [];
  for (let run = 0; run < o.runs; run++) {
    progress(
      `MTU ${topo.options.underlayMtu}, ${cpu}, run ${run + 1}/${o.runs}: fan vxlan with, then without the policy`,
    );
    await policy.apply();
    policed.push(await sample(topo.stateDir, pair, o, cpu));
    await policy.remove();
    plain.push(await sample(topo.stateDir, pair, o, cpu));
  }
  return rowOf(topo, o, cpu, { kind: 'policy-ab', backend: 'vxlan' }, policed, (s, pick) =>
    bracketedRatios(
      s.map(pick),
      s.map((_, r): [number, number] => {
        const before = plain[r];
        const after = plain[r + 1];
        return [before ? pick(before) : 0, after ? pick(after) : 0];
      }),
    ),
  );
}

/**
 * Measures `pairs` (never the underlay itself) `o.runs` times each on `cpu`, every measurement between two
 * underlay measurements: U X1 U X2 U … . Returns a row per pair, and the underlay's row.
 */
async function measureBlock(
  topo: LabTopology,
  underlay: Pair,
  pairs: readonly Pair[],
  o: PathBenchOptions,
  cpu: CpuMode,
  progress: Progress,
): Promise<PathRow[]> {
  const u: Sample[] = [await sample(topo.stateDir, underlay, o, cpu)];
  const x = new Map<Pair, Sample[]>(pairs.map((p) => [p, []]));
  for (let run = 0; run < o.runs; run++) {
    for (const pair of pairs) {
      progress(
        `MTU ${topo.options.underlayMtu}, ${cpu}, run ${run + 1}/${o.runs}: ${pathLabel(pair)} ` +
          `(${o.streams.join(' and ')} streams, ${o.seconds}s each), then the underlay`,
      );
      x.get(pair)?.push(await sample(topo.stateDir, pair, o, cpu));
      u.push(await sample(topo.stateDir, underlay, o, cpu));
    }
  }
  const n = pairs.length;
  const row = (
    id: PathId,
    samples: readonly Sample[],
    brackets: (s: readonly Sample[], pick: (s: Sample) => number) => number[],
  ): PathRow => rowOf(topo, o, cpu, id, samples, brackets);
  // The underlay against its own median: the spread shows the drift of the run.
  const underlayRow = row({ kind: 'underlay' }, u, (s, pick) => {
    const m = median(s.map(pick));
    return s.map((v) => (m > 0 ? pick(v) / m : 0));
  });
  return [
    underlayRow,
    ...pairs.map((pair, i) =>
      row(pair, x.get(pair) ?? [], (s, pick) =>
        // run r of pair i sat between underlay samples r*n+i and r*n+i+1
        bracketedRatios(
          s.map(pick),
          s.map((_, r): [number, number] => {
            const before = u[r * n + i];
            const after = u[r * n + i + 1];
            return [before ? pick(before) : 0, after ? pick(after) : 0];
          }),
        ),
      ),
    ),
  ];
}

/** The path rows of a running lab of 2 or more hosts (its fans must be vxlan for the policy row). */
export async function measurePaths(
  topo: LabTopology,
  o: PathBenchOptions,
  progress: Progress = () => {},
): Promise<PathRow[]> {
  const [h1, h2] = topo.hosts;
  const a = h1?.containers[0];
  if (!h1 || !h2 || !a)
    throw new FanError(
      'the bench needs at least 2 hosts with a container each',
      'fanctl lab up --hosts 2 --containers 2 (or more)',
    );
  const b = h2.containers.find((c) => c.overlay === a.overlay);
  const c = h1.containers.find((x) => x !== a && x.overlay === a.overlay);
  const endpoint = async (x: Parameters<typeof containerAddress>[0]): Promise<Endpoint> => ({
    ns: x.ns,
    name: x.name,
    address: await containerAddress(x),
  });
  const underlay: Pair = {
    kind: 'underlay',
    server: { ns: h2.ns, name: h2.name, address: formatIpv4(h2.underlay.address) },
    client: { ns: h1.ns, name: h1.name, address: formatIpv4(h1.underlay.address) },
  };
  const pairs: Pair[] = [];
  if (b)
    pairs.push({ kind: 'backend', backend: topo.options.type, server: await endpoint(b), client: await endpoint(a) });
  const types = extraTypes(topo);
  const modes = o.cpuModes.filter((m) => m === 'one-cpu' || cpus().length > 1);
  const rows: PathRow[] = [];
  try {
    progress('building the reference network (flannel-style vxlan with per-peer route, neighbour and fdb entries)');
    const [refA, refB] = await buildReference(topo, [h1, h2]);
    if (refA && refB) pairs.push({ kind: 'reference', server: refB, client: refA });
    if (c)
      pairs.push({
        kind: 'same-host',
        backend: topo.options.type,
        server: await endpoint(c),
        client: await endpoint(a),
      });
    for (const cpu of modes) rows.push(...(await measureBlock(topo, underlay, pairs, o, cpu, progress)));
    // One extra fan at a time: some backends cannot share an underlay device (host-gw and vxlan-fast both put a
    // program on its ingress), and each is measured against the same underlay brackets anyway.
    for (const [n, type] of types.entries()) {
      progress(`bringing up a ${type} fan on ${h1.name} and ${h2.name} with one container each`);
      try {
        const extra = await addExtraFan(topo, [h1, h2], type, n);
        const [xA, xB] = extra.containers;
        if (!xA || !xB) continue;
        const pair: Pair = { kind: 'backend', backend: type, server: await endpoint(xB), client: await endpoint(xA) };
        pairs.push(pair);
        for (const cpu of modes) {
          const block = await measureBlock(topo, underlay, [pair], o, cpu, progress);
          rows.push(...block.filter((r) => r.kind === 'backend'));
        }
      } finally {
        await removeExtraFan(topo, [h1, h2], n);
      }
    }
    const fanPair = pairs.find((p) => p.kind === 'backend' && p.backend === 'vxlan');
    if (o.policy && fanPair) {
      progress('applying a 20-group / 200-rule isolation policy on both hosts (fanctl policy apply)');
      const file = `${topo.stateDir}/bench-policy.yaml`;
      await writeFile(file, benchPolicyText());
      try {
        const policy = {
          apply: async () => {
            for (const h of [h1, h2]) await fanctl(h, ['policy', 'apply', file]);
          },
          remove: async () => {
            for (const h of [h1, h2]) await fanctl(h, ['policy', 'remove']);
          },
        };
        await policy.apply();
        const policyPair: Pair = { ...fanPair, kind: 'policy' };
        for (const cpu of modes) {
          const block = await measureBlock(topo, underlay, [policyPair], o, cpu, progress);
          rows.push(...block.filter((r) => r.kind === 'policy'));
        }
        rows.push(await measurePolicyAb(topo, fanPair, o, 'one-cpu', policy, progress));
      } finally {
        for (const h of [h1, h2]) await fanctl(h, ['policy', 'remove'], { allowFailure: true });
      }
    }
    return rows;
  } finally {
    await removeReference(topo, [h1, h2]);
  }
}

/** The whole suite: a 2-host lab per MTU (named `<name><mtu>`), the control-plane labs, the CNI lab. */
export async function runSuite(
  name: string,
  options: SuiteOptions,
  progress: Progress = () => {},
): Promise<BenchReport> {
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const paths: PathRow[] = [];
  for (const mtu of options.mtus) {
    const lab = `${name}${mtu}`;
    progress(`lab ${lab}: 2 hosts × 2 containers, underlay MTU ${mtu}`);
    await labDown(lab);
    const topo = await labUp(
      { ...DEFAULT_LAB, name: lab, hosts: 2, containers: 2, underlayMtu: mtu, type: 'vxlan' },
      progress,
    );
    try {
      paths.push(...(await measurePaths(topo, options, progress)));
    } finally {
      await labDown(lab);
    }
  }
  const control = options.underlays.length
    ? await controlBench(`${name}u`, options.underlays, options.upSamples, progress)
    : [];
  let cni: BenchReport['cni'];
  if (options.cni) {
    const lab = `${name}c`;
    await labDown(lab);
    const topo = await labUp({ ...DEFAULT_LAB, name: lab, hosts: 1, containers: 0 }, progress);
    try {
      cni = await cniBench(topo, options.cni, progress);
    } finally {
      await labDown(lab);
    }
  }
  return {
    version: 1,
    startedAt,
    durationS: (Date.now() - started) / 1000,
    options,
    machine: { cpus: cpus().length, loadAverage: loadavg(), kernel: release() },
    backends: ALL_BACKENDS.map((b) => b.type),
    paths,
    control,
    ...(cni ? { cni } : {}),
    targets: evaluateTargets({ paths, control, ...(cni ? { cni } : {}) }),
  };
}

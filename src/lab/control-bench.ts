/**
 * The bench's control-plane rows: for a /24, /20 and /16 underlay, `fanctl up` wall time (on a host without the
 * fan, and again on the converged host) and the kernel objects it adds, against the reference approach: the
 * flannel-style per-peer state (a nexthop object, a route, a neighbour and an fdb entry for every other host of the
 * underlay) installed on the same host with `ip -batch` and `bridge -batch`, its wall time and object count.
 * Each underlay gets a 1-host lab `<name><prefix>`, removed afterwards.
 */
import { performance } from 'node:perf_hooks';
import { FanError } from '../core/errors.js';
import { FANCTL, fanctl, labDown, labUp } from './lab.js';
import { root } from './shell.js';
import { DEFAULT_LAB, type LabHost } from './topology.js';
import type { ControlRow } from './bench/model.js';
import { summarize } from './bench/stats.js';
import { childCpuMs, countObjects, referencePeerBatches } from './bench/objects.js';
import type { Progress } from './bench.js';

const OVERLAY = '250.0.0.0/8';

/** Every object fan or the reference can create, counted from the listings of the host's namespace. */
export async function kernelObjects(ns: string): Promise<number> {
  const run = (argv: string[]): Promise<string> =>
    root
      .run(['ip', 'netns', 'exec', ns, ...argv], { allowFailure: true })
      .then((o) => (o.exitCode === 0 ? o.stdout : ''));
  const [links, addresses, routes, neighbours, fdb, nexthops, nft, tc, iptables] = await Promise.all([
    run(['ip', '-o', 'link', 'show']),
    run(['ip', '-o', '-4', 'address', 'show']),
    run(['ip', '-4', 'route', 'show', 'table', 'all']),
    run(['ip', '-4', 'neigh', 'show', 'nud', 'permanent']),
    run(['bridge', 'fdb', 'show']),
    run(['ip', 'nexthop', 'show']),
    run(['nft', '-a', 'list', 'ruleset']),
    run(['bpftool', '-j', 'net', 'show']),
    run(['iptables', '-w', '-S']),
  ]);
  return countObjects({ links, addresses, routes, neighbours, fdb, nexthops, nft, tc, iptables });
}

/** `times` after the command: the CPU its processes used (user + system), whatever the machine's load. */
const TIMED = '"$@"; rc=$?; times >&2; exit $rc';

/** Wall time and CPU time of `fanctl ARGS` run in the host (node, fanctl and every tool it spawns). */
async function timed(host: LabHost, args: readonly string[]): Promise<{ wallMs: number; cpuMs: number }> {
  const argv = ['ip', 'netns', 'exec', host.ns, 'env', `FAN_STATE_DIR=${host.stateDir}`, process.execPath, FANCTL];
  const started = performance.now();
  const out = await root.run(['sh', '-c', TIMED, 'sh', ...argv, ...args], { allowFailure: true });
  const wallMs = performance.now() - started;
  if (out.exitCode !== 0) throw new FanError(`fanctl ${args.join(' ')} failed: ${out.stderr.slice(0, 400)}`);
  return { wallMs, cpuMs: childCpuMs(out.stderr) };
}

async function measureUnderlay(name: string, prefix: number, samples: number, progress: Progress): Promise<ControlRow> {
  const underlay = `172.16.0.0/${prefix}`;
  await labDown(name);
  const topo = await labUp({ ...DEFAULT_LAB, name, hosts: 1, containers: 0, underlay, overlays: [OVERLAY] }, progress);
  try {
    const host = topo.hosts[0];
    if (!host) throw new FanError('internal: the control-plane lab has no host');
    const up = ['up', '-o', OVERLAY, '-u', underlay];
    await fanctl(host, ['down', '-e']);
    const before = await kernelObjects(host.ns);
    const fresh: { wallMs: number; cpuMs: number }[] = [];
    const converged: { wallMs: number; cpuMs: number }[] = [];
    let objects = 0;
    for (let i = 0; i < samples; i++) {
      progress(`underlay /${prefix}: fanctl up from nothing, then again converged (${i + 1}/${samples})`);
      fresh.push(await timed(host, up));
      converged.push(await timed(host, up));
      if (i === 0) objects = (await kernelObjects(host.ns)) - before;
      await fanctl(host, ['down', '-e']);
    }
    const hosts = 2 ** (32 - prefix) - 2;
    progress(
      `underlay /${prefix}: the reference's per-peer state for ${hosts - 1} peers (nexthop, route, neighbour, fdb)`,
    );
    const batches = referencePeerBatches(host.underlay.address, prefix, topo.options.underlayMtu);
    const started = performance.now();
    await root.run(['ip', '-n', host.ns, '-batch', '-'], { input: batches.ip, timeoutMs: 600_000 });
    await root.run(['bridge', '-n', host.ns, '-batch', '-'], { input: batches.bridge, timeoutMs: 600_000 });
    const referenceInstallMs = performance.now() - started;
    const referenceObjects = (await kernelObjects(host.ns)) - before;
    await root.run(['ip', '-n', host.ns, 'link', 'del', batches.device], { allowFailure: true });
    return {
      underlayPrefix: prefix,
      hosts,
      fanUpFreshMs: summarize(fresh.map((t) => t.wallMs)),
      fanUpConvergedMs: summarize(converged.map((t) => t.wallMs)),
      fanUpFreshCpuMs: summarize(fresh.map((t) => t.cpuMs)),
      fanUpConvergedCpuMs: summarize(converged.map((t) => t.cpuMs)),
      fanObjects: objects,
      referenceInstallMs,
      referenceObjects,
    };
  } finally {
    await labDown(name);
  }
}

export async function controlBench(
  name: string,
  prefixes: readonly number[],
  samples: number,
  progress: Progress = () => {},
): Promise<ControlRow[]> {
  const rows: ControlRow[] = [];
  for (const prefix of prefixes) rows.push(await measureUnderlay(`${name}${prefix}`, prefix, samples, progress));
  return rows;
}

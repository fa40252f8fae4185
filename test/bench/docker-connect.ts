/**
 * The bench's Docker row: `docker network connect` and `disconnect` of a running container, through the fan driver
 * and through Docker's own bridge driver, in one real dockerd (Debian's docker.io) on one lab host, alternating
 * call by call so that both see the same machine. Both sides pay the same docker CLI start-up, so the ratio
 * is what the driver adds. It lives under test/ because it starts dockerd the way the Docker tests do
 * (test/lab/docker.ts); `npm run bench` runs it after `fanctl lab bench`.
 *
 *   node dist/test/bench/docker-connect.js [--samples N] [--name NAME] [--json FILE]
 *
 * Everything is named after NAME (default `fanbenchd`) and removed afterwards, also on failure.
 */
import { writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { FanError, errorMessage } from '../../src/core/errors.js';
import type { BackgroundProcess } from '../../src/kernel/exec.js';
import { percentile } from '../../src/lab/bench/stats.js';
import { fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { DEFAULT_LAB } from '../../src/lab/topology.js';
import { buildBusyboxTarball } from '../lab/busybox.js';
import {
  LAB_IMAGE,
  type LabDockerd,
  docker,
  importImage,
  startDockerd,
  startFanPlugin,
  stopDockerd,
  stopProcess,
  sweepLabDocker,
} from '../lab/docker.js';

export interface CallFigures {
  readonly p50: number;
  readonly p95: number;
}

export interface DockerConnectRow {
  readonly driver: 'fan' | 'bridge';
  readonly connectMs: CallFigures;
  readonly disconnectMs: CallFigures;
}

export interface DockerConnectResult {
  readonly samples: number;
  readonly rows: readonly DockerConnectRow[];
  /** fan's p50 over the bridge driver's, per call. */
  readonly ratio: { readonly connect: number; readonly disconnect: number };
}

const figures = (ms: readonly number[]): CallFigures => ({ p50: percentile(ms, 50), p95: percentile(ms, 95) });

async function timed(d: LabDockerd, args: readonly string[]): Promise<number> {
  const started = performance.now();
  await docker(d, args);
  return performance.now() - started;
}

/** Measures `samples` connect/disconnect pairs per driver; the lab `name` exists only while it runs. */
export async function measureDockerConnect(
  options: { readonly name?: string; readonly samples?: number; readonly log?: (line: string) => void } = {},
): Promise<DockerConnectResult> {
  const name = options.name ?? 'fanbenchd';
  const samples = options.samples ?? 20;
  const log = options.log ?? (() => {});
  await labDown(name);
  await sweepLabDocker(name);
  let d: LabDockerd | undefined;
  let plugin: BackgroundProcess | undefined;
  try {
    const topo = await labUp({ ...DEFAULT_LAB, name, hosts: 1, containers: 0 });
    const host = topo.hosts[0];
    if (!host) throw new FanError('internal: the Docker bench lab has no host');
    const slice = (JSON.parse((await fanctl(host, ['show', '--json'])).stdout) as { fans: { slice: string }[] }).fans[0]
      ?.slice;
    if (slice === undefined) throw new FanError('the Docker bench lab has no fan up');
    log('dockerd: starting');
    d = await startDockerd(host);
    await importImage(d, await buildBusyboxTarball(topo.stateDir));
    plugin = await startFanPlugin(d);
    await docker(d, ['network', 'create', '-d', 'fan', '--ipam-driver', 'fan', '--subnet', slice, 'fanb']);
    // Docker's own driver, on a private range inside the lab host's namespace.
    await docker(d, ['network', 'create', '-d', 'bridge', '--subnet', '10.213.0.0/24', 'refb']);
    // A container in `none` mode cannot be connected to networks: it starts on a third one, kept throughout.
    await docker(d, ['network', 'create', '-d', 'bridge', '--subnet', '10.213.1.0/24', 'baseb']);
    await docker(d, ['run', '-d', '--name', 'box', '--network', 'baseb', LAB_IMAGE, 'sleep', '3600']);
    const ms: Record<'fan' | 'bridge', { connect: number[]; disconnect: number[] }> = {
      fan: { connect: [], disconnect: [] },
      bridge: { connect: [], disconnect: [] },
    };
    const networks = { fan: 'fanb', bridge: 'refb' } as const;
    // One warm-up pair each (first use loads the plugin, creates the bridge), not counted.
    for (const network of Object.values(networks)) {
      await docker(d, ['network', 'connect', network, 'box']);
      await docker(d, ['network', 'disconnect', network, 'box']);
    }
    for (let i = 0; i < samples; i++) {
      const order: readonly ('fan' | 'bridge')[] = i % 2 === 0 ? ['fan', 'bridge'] : ['bridge', 'fan'];
      for (const driver of order) {
        ms[driver].connect.push(await timed(d, ['network', 'connect', networks[driver], 'box']));
        ms[driver].disconnect.push(await timed(d, ['network', 'disconnect', networks[driver], 'box']));
      }
      log(`docker network connect/disconnect: ${i + 1}/${samples}`);
    }
    const rows: DockerConnectRow[] = (['fan', 'bridge'] as const).map((driver) => ({
      driver,
      connectMs: figures(ms[driver].connect),
      disconnectMs: figures(ms[driver].disconnect),
    }));
    const [fan, bridge] = rows as [DockerConnectRow, DockerConnectRow];
    const over = (a: number, b: number): number => (b > 0 ? a / b : 0);
    return {
      samples,
      rows,
      ratio: {
        connect: over(fan.connectMs.p50, bridge.connectMs.p50),
        disconnect: over(fan.disconnectMs.p50, bridge.disconnectMs.p50),
      },
    };
  } finally {
    if (d) await stopDockerd(d).catch((error: unknown) => log(`stopping dockerd: ${errorMessage(error)}`));
    if (plugin) await stopProcess(plugin);
    await labDown(name);
    await sweepLabDocker(name);
  }
}

export function renderDockerConnect(r: DockerConnectResult): string {
  const f = (n: number): string => `${n.toFixed(0)} ms`;
  const lines = [
    `Docker network connect/disconnect of a running container (${r.samples} each, alternating drivers)`,
    'driver          connect p50  p95       disconnect p50  p95',
    ...r.rows.map(
      (row) =>
        `${row.driver.padEnd(15)} ${f(row.connectMs.p50).padEnd(12)} ${f(row.connectMs.p95).padEnd(9)} ` +
        `${f(row.disconnectMs.p50).padEnd(15)} ${f(row.disconnectMs.p95)}`,
    ),
    `fan / bridge driver (p50): connect ${r.ratio.connect.toFixed(2)}×, disconnect ${r.ratio.disconnect.toFixed(2)}×`,
  ];
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { samples: { type: 'string' }, name: { type: 'string' }, json: { type: 'string' } },
  });
  const samples = values.samples !== undefined ? Number(values.samples) : 20;
  if (!Number.isInteger(samples) || samples < 1)
    throw new FanError(`--samples ${values.samples ?? ''} is not a positive integer`, 'e.g. --samples 20');
  const result = await measureDockerConnect({
    samples,
    ...(values.name !== undefined ? { name: values.name } : {}),
    log: (line) => process.stderr.write(`bench: ${line}\n`),
  });
  process.stdout.write(renderDockerConnect(result));
  if (values.json !== undefined) await writeFile(values.json, `${JSON.stringify(result, null, 2)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`docker-connect bench: ${errorMessage(error)}\n`);
    process.exitCode = 1;
  });
}

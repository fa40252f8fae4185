/**
 * `fanctl lab bench`: throughput (iperf3, TCP, one stream) and RTT (ping) measured side by side in one run for
 * the plain underlay (host to host), fan across hosts in both data planes (container to container through the eBPF
 * VXLAN tunnel, and host-gw without encapsulation), the reference approach (flannel's vxlan backend with per-peer
 * state) and fan on one host (through the bridge), reported with ratios against the underlay and the reference.
 */
import { readFile } from 'node:fs/promises';
import { formatIpv4 } from '../core/address/ipv4.js';
import { FanError } from '../core/errors.js';
import type { DataplaneType } from '../core/config/fan-spec.js';
import { containerAddress } from './lab.js';
import { inNs } from './shell.js';
import type { LabTopology } from './topology.js';
import { buildReference, removeReference } from './reference.js';
import { addExtraFan, removeExtraFan } from './extra-fan.js';

export interface PathMeasure {
  readonly path:
    | 'underlay host→host'
    | 'fan vxlan container→container, cross-host'
    | 'fan host-gw container→container, cross-host'
    | 'fan vxlan-fast container→container, cross-host'
    | 'reference (flannel-style vxlan, per-peer fdb) container→container, cross-host'
    | 'fan container→container, same host';
  readonly from: string;
  readonly to: string;
  readonly gbitPerSec: number;
  readonly retransmits: number;
  readonly rttMs: number;
  /** gbitPerSec / underlay gbitPerSec. */
  readonly throughputRatio: number;
  readonly rttRatio: number;
}

export interface BenchReport {
  readonly seconds: number;
  readonly paths: readonly PathMeasure[];
  /** fan vxlan cross-host throughput / reference cross-host throughput (1.0 = the same). */
  readonly fanVsReference?: number;
}

interface Endpoint {
  readonly ns: string;
  readonly name: string;
  readonly address: string;
}

async function iperf(
  topo: LabTopology,
  server: Endpoint,
  client: Endpoint,
  seconds: number,
  port: number,
): Promise<{ gbit: number; retransmits: number }> {
  const pidFile = `${topo.stateDir}/iperf3-${port}.pid`;
  await inNs(server.ns).run(['iperf3', '-s', '-1', '-D', '-B', server.address, '-p', String(port), '-I', pidFile]);
  try {
    for (let attempt = 0; ; attempt++) {
      const out = await inNs(client.ns).run(
        ['iperf3', '-c', server.address, '-p', String(port), '-t', String(seconds), '-J'],
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

async function rtt(client: Endpoint, target: string): Promise<number> {
  const out = await inNs(client.ns).run(['ping', '-n', '-q', '-c', '50', '-i', '0.01', target]);
  const match = /= [\d.]+\/([\d.]+)\//.exec(out.stdout);
  if (!match) throw new FanError(`no RTT from ping ${client.name} → ${target}: ${out.stdout}`);
  return Number(match[1]);
}

export async function labBench(
  topo: LabTopology,
  seconds: number,
  progress: (line: string) => void = () => {},
): Promise<BenchReport> {
  const [h1, h2] = topo.hosts;
  const a = h1?.containers[0];
  if (!h1 || !h2 || !a)
    throw new FanError(
      'the bench needs at least 2 hosts with a container each',
      'fanctl lab up --hosts 2 --containers 1 (or more)',
    );
  const b = h2.containers.find((c) => c.overlay === a.overlay);
  const c = h1.containers.find((x) => x !== a && x.overlay === a.overlay);
  const endpoint = async (x: { ns: string; name: string }): Promise<Endpoint> => ({
    ns: x.ns,
    name: x.name,
    address: await containerAddress(x as Parameters<typeof containerAddress>[0]),
  });
  const pairs: { path: PathMeasure['path']; server: Endpoint; client: Endpoint }[] = [
    {
      path: 'underlay host→host',
      server: { ns: h2.ns, name: h2.name, address: formatIpv4(h2.underlay.address) },
      client: { ns: h1.ns, name: h1.name, address: formatIpv4(h1.underlay.address) },
    },
  ];
  const crossHost = (type: DataplaneType): PathMeasure['path'] => `fan ${type} container→container, cross-host`;
  if (b) pairs.push({ path: crossHost(topo.options.type), server: await endpoint(b), client: await endpoint(a) });
  progress('building the reference network (flannel-style vxlan with per-peer route, neighbour and fdb entries)');
  const [refA, refB] = await buildReference(topo, [h1, h2]);
  try {
    progress(
      `bringing up a ${topo.options.type === 'vxlan' ? 'host-gw' : 'vxlan'} fan (249.0.0.0/8) on ${h1.name} and ${h2.name} with one container each`,
    );
    const extra = await addExtraFan(topo, [h1, h2]);
    const [xA, xB] = extra.containers;
    if (xA && xB) pairs.push({ path: crossHost(extra.type), server: await endpoint(xB), client: await endpoint(xA) });
    if (refA && refB)
      pairs.push({
        path: 'reference (flannel-style vxlan, per-peer fdb) container→container, cross-host',
        server: refB,
        client: refA,
      });
    if (c)
      pairs.push({ path: 'fan container→container, same host', server: await endpoint(c), client: await endpoint(a) });
    const measured: Omit<PathMeasure, 'throughputRatio' | 'rttRatio'>[] = [];
    let port = 5201;
    for (const pair of pairs) {
      progress(`${pair.path}: iperf3 ${pair.client.name} → ${pair.server.name} for ${seconds}s`);
      const t = await iperf(topo, pair.server, pair.client, seconds, port++);
      const r = await rtt(pair.client, pair.server.address);
      measured.push({
        path: pair.path,
        from: pair.client.name,
        to: pair.server.name,
        gbitPerSec: t.gbit,
        retransmits: t.retransmits,
        rttMs: r,
      });
    }
    const base = measured[0];
    const fan = measured.find((m) => m.path === crossHost('vxlan'));
    const reference = measured.find((m) => m.path.startsWith('reference'));
    return {
      seconds,
      paths: measured.map((m) => ({
        ...m,
        throughputRatio: base && base.gbitPerSec > 0 ? m.gbitPerSec / base.gbitPerSec : 0,
        rttRatio: base && base.rttMs > 0 ? m.rttMs / base.rttMs : 0,
      })),
      ...(fan && reference && reference.gbitPerSec > 0
        ? { fanVsReference: fan.gbitPerSec / reference.gbitPerSec }
        : {}),
    };
  } finally {
    await removeExtraFan(topo, [h1, h2]);
    await removeReference(topo, [h1, h2]);
  }
}

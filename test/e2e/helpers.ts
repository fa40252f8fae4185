/** Shared helpers for the root-only end-to-end tests: commands in namespaces, captures, state counts. */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExecRunner } from '../../src/kernel/exec.js';
import { inNs as runnerIn, outputIn, root } from '../../src/lab/shell.js';
import { DATAPLANE_TYPES } from '../../src/core/config/fan-spec.js';
import { DEFAULT_LAB, type LabOptions } from '../../src/lab/topology.js';
import { fanMtu } from '../../src/backends/registry.js';

export { root };

/** The standard output of a command inside a lab namespace. */
export const inNs = outputIn;

export async function json<T>(ns: string, argv: readonly string[]): Promise<T> {
  const out = await inNs(ns, argv);
  return JSON.parse(out.trim() === '' ? '[]' : out) as T;
}

/**
 * Starts tcpdump in a namespace, waits until it listens, runs `trigger`, and returns the captured lines.
 * Bounded: at most `count` packets or `timeoutMs`.
 */
export async function capture(
  ns: string,
  iface: string,
  filter: string,
  trigger: () => Promise<unknown>,
  options: { count?: number; timeoutMs?: number; extra?: string[] } = {},
): Promise<string> {
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns,
      'tcpdump',
      '-n',
      '-l',
      '-i',
      iface,
      '-c',
      String(options.count ?? 1),
      ...(options.extra ?? []),
      filter,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const limit = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 15_000);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('tcpdump did not start')), 10_000);
      child.stderr.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('listening on')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    await trigger();
    await exited;
  } finally {
    clearTimeout(limit);
    child.kill('SIGKILL'); // no-op when it already exited
  }
  return stdout;
}

/**
 * Objects that could grow with peers or destinations: IPv4 routes in every table, IPv4 neighbour entries in every
 * state (the Fan is IPv4; IPv6 multicast entries come and go with the kernel's own MLD timing), fdb entries.
 */
export async function stateCounts(
  ns: string,
): Promise<{ routes: number; neighbours: number; tunnelNeighbours: number; fdb: number }> {
  const routes = await json<unknown[]>(ns, ['ip', '-json', '-4', 'route', 'show', 'table', 'all']);
  const neigh = await json<{ dev?: string }[]>(ns, ['ip', '-json', '-4', 'neigh', 'show', 'nud', 'all']);
  const fdb = await json<unknown[]>(ns, ['bridge', '-json', 'fdb', 'show']);
  return {
    routes: routes.length,
    neighbours: neigh.length,
    tunnelNeighbours: neigh.filter((n) => n.dev === 'fan-vxlan').length,
    fdb: fdb.length,
  };
}

/** Everything fan may have created in a namespace; all empty after `down`. */
export async function fanObjects(
  ns: string,
): Promise<{ links: string[]; routes: number; nft: boolean; dnsmasq: number; forwardRules: number }> {
  const links = await json<{ ifname: string; ifalias?: string }[]>(ns, ['ip', '-json', 'link', 'show']);
  const routes = await json<unknown[]>(ns, ['ip', '-json', 'route', 'show', 'table', 'all', 'proto', '250']);
  const nft = (await runnerIn(ns).run(['nft', 'list', 'table', 'ip', 'fan'], { allowFailure: true })).exitCode === 0;
  const pids = (await root.run(['ip', 'netns', 'pids', ns], { allowFailure: true })).stdout
    .split(/\s+/)
    .filter(Boolean);
  let dnsmasq = 0;
  for (const pid of pids) {
    const comm = (await root.run(['cat', `/proc/${pid}/comm`], { allowFailure: true })).stdout.trim();
    if (comm === 'dnsmasq') dnsmasq++;
  }
  const rules = (await runnerIn(ns).run(['iptables', '-w', '-S', 'FORWARD'], { allowFailure: true })).stdout;
  return {
    links: links.filter((l) => l.ifalias?.startsWith('fan:') || l.ifname.startsWith('fan-')).map((l) => l.ifname),
    routes: routes.length,
    nft,
    dnsmasq,
    forwardRules: rules.split('\n').filter((l) => l.includes('--comment')).length,
  };
}

/**
 * The lab defaults of the tests that must hold on every data plane (isolation, anti-spoofing, CNI, Docker):
 * `FAN_E2E_TYPE=vxlan-fast` (or `host-gw-fast`) runs them again on a fast path (`npm run test:fast-path` runs both).
 */
export function e2eLab(): LabOptions {
  const wanted = process.env.FAN_E2E_TYPE;
  if (wanted === undefined || wanted === '') return DEFAULT_LAB;
  const type = DATAPLANE_TYPES.find((t) => t === wanted);
  if (type === undefined) throw new Error(`FAN_E2E_TYPE=${wanted} is not one of ${DATAPLANE_TYPES.join(', ')}`);
  return { ...DEFAULT_LAB, type };
}

/** The bridge and container MTU of the e2eLab() fans: the underlay's less the data plane's encapsulation. */
export function e2eFanMtu(): number {
  const lab = e2eLab();
  return fanMtu({ type: lab.type, deviceMtu: lab.underlayMtu });
}

/** Starts `busybox nc -ll -p PORT` in `ns`, answering every connection with "ok" (persistent server). */
export function okServer(ns: string, port: number): ChildProcessWithoutNullStreams {
  return spawn('ip', ['netns', 'exec', ns, 'busybox', 'nc', '-ll', '-p', String(port), '-e', '/bin/echo', 'ok'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** True when a TCP connection to ADDRESS:PORT from `ns` gets the server's "ok". */
export async function tcpOk(ns: string, address: string, port: number): Promise<boolean> {
  const out = await new ExecRunner(ns).run(['busybox', 'nc', '-w', '2', address, String(port)], {
    input: '',
    allowFailure: true,
    timeoutMs: 10_000,
  });
  return out.stdout.includes('ok');
}

/** True when `count` pings from `ns` to `target` (0.2 s apart, 1 s to answer each) all get their reply. */
export async function pingOk(ns: string, target: string, count = 1): Promise<boolean> {
  const out = await new ExecRunner(ns).run(['ping', '-n', '-c', String(count), '-i', '0.2', '-W', '1', target], {
    allowFailure: true,
    timeoutMs: 15_000,
  });
  return out.exitCode === 0;
}

/** Bytes one second of iperf3 moves from `clientNs` to `address`:`port` (a one-shot server in `serverNs`). */
export async function iperfBytes(serverNs: string, clientNs: string, address: string, port: number): Promise<number> {
  const srv = spawn('ip', ['netns', 'exec', serverNs, 'iperf3', '-s', '-1', '-p', String(port)], { stdio: 'ignore' });
  try {
    await sleep(300);
    const out = await new ExecRunner(clientNs).run(['iperf3', '-c', address, '-p', String(port), '-t', '1', '-J'], {
      timeoutMs: 20_000,
    });
    return (JSON.parse(out.stdout) as { end: { sum_received: { bytes: number } } }).end.sum_received.bytes;
  } finally {
    srv.kill('SIGKILL');
  }
}

/**
 * Frames the bridge `dev` of namespace `ns` passed up to the host (its rx counter). A fast path takes a bound
 * container's packets on the container's port, before the bridge: they never count here.
 */
export async function bridgedUp(ns: string, dev: string): Promise<number> {
  const out = await new ExecRunner(ns).run(['cat', `/sys/class/net/${dev}/statistics/rx_packets`]);
  return Number(out.stdout.trim());
}

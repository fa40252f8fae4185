/**
 * One policy for a fleet, kept in etcd: Debian's etcd-server runs in the lab's outside namespace (203.0.113.1,
 * reached by the hosts over the underlay), with its data under a temporary directory; three lab hosts keep their
 * policy equal to the key, two with `fanctl policy watch`, one as a service of `fanctl agent --policy-etcd`.
 * Checked: every change converges on all hosts within 2 s (same hash, in the kernel too), an invalid document is
 * refused by all and the previous policy keeps deciding traffic (ping between group members), and a change made
 * after etcd was killed and started again still converges. Everything is named `fnetpw…`; etcd and the watchers
 * are ended by PID and the lab removed by labDown, also when a test fails.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { parsePolicy } from '../../src/core/policy/parse.js';
import { policyHash } from '../../src/core/policy/compile.js';
import { ExecRunner } from '../../src/kernel/exec.js';
import { FANCTL, fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { DEFAULT_LAB, type LabHost, type LabTopology } from '../../src/lab/topology.js';
import { execFanCni } from '../lab/cni-runtime.js';

const NAME = 'fnetpw';
const KEY = '/fan/policy';
const root = new ExecRunner();

const P1 = `default: isolate
groups:
  web: { index: 10-19 }
  db:  { index: 20-29 }
`;
const P2 = `${P1}allow:\n  - { from: web, to: db }\n`;
const P3 = `${P1}allow:\n  - { from: db, to: web }\n`;
const BAD = `${P1}allow:\n  - { from: web, to: nosuchgroup }\n`;
const hashOf = (text: string): string => policyHash(parsePolicy(text, 'test'));

interface Show {
  hash?: string;
  kernelHash?: string;
  appliedAt?: string;
  watch?: {
    alive: boolean;
    connected: boolean;
    revision?: string;
    appliedRevision?: string;
    appliedHash?: string;
    refused?: { revision: string; error: string };
  };
}

async function ping(ns: string, target: string): Promise<boolean> {
  const out = await new ExecRunner(ns).run(['ping', '-n', '-c', '1', '-W', '1', target], {
    allowFailure: true,
    timeoutMs: 10_000,
  });
  return out.exitCode === 0;
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < end) {
    last = await check();
    if (last !== undefined) return last;
    await sleep(200);
  }
  return assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

describe('fan policy from etcd on a 3-host lab', { timeout: 600_000 }, () => {
  let topo: LabTopology;
  let dataRoot: string;
  let etcd: ChildProcess | undefined;
  let etcdLog = '';
  const watchers: { host: LabHost; child: ChildProcess; log: string[] }[] = [];
  const web: { ns: string; address: string }[] = [];
  const db: { ns: string; address: string }[] = [];
  const containerNs: string[] = [];
  let url = '';

  const etcdArgs = (): string[] => {
    const ip = '203.0.113.1';
    return [
      'netns',
      'exec',
      topo.outsideNs,
      'etcd',
      '--name',
      'fnetpw',
      '--data-dir',
      `${dataRoot}/etcd`,
      '--listen-client-urls',
      `http://${ip}:2379`,
      '--advertise-client-urls',
      `http://${ip}:2379`,
      // peers on the outside namespace's own loopback: a one-member cluster
      '--listen-peer-urls',
      'http://127.0.0.1:2380',
      '--initial-advertise-peer-urls',
      'http://127.0.0.1:2380',
      '--initial-cluster',
      'fnetpw=http://127.0.0.1:2380',
    ];
  };

  async function startEtcd(): Promise<void> {
    const child = spawn('ip', etcdArgs(), { stdio: ['ignore', 'pipe', 'pipe'] });
    etcd = child;
    const onData = (chunk: Buffer): void => {
      etcdLog = (etcdLog + chunk.toString()).slice(-20_000);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    await until('etcd to answer', async () => {
      if (child.exitCode !== null) assert.fail(`etcd exited ${child.exitCode}:\n${etcdLog}`);
      const out = await etcdctl(['endpoint', 'health'], '', true);
      return out.exitCode === 0 ? true : undefined;
    });
  }

  async function killEtcd(): Promise<void> {
    const child = etcd;
    etcd = undefined;
    if (!child || child.pid === undefined || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL'); // `ip netns exec` execs etcd: this PID is etcd's
    await exited;
  }

  function etcdctl(args: readonly string[], input = '', allowFailure = false) {
    return new ExecRunner(topo.outsideNs).run(
      ['env', 'ETCDCTL_API=3', 'etcdctl', '--endpoints', url, '--dial-timeout', '2s', ...args],
      { input, allowFailure, timeoutMs: 20_000 },
    );
  }

  /** Puts a document with etcdctl; returns its revision and the time just before the put. */
  async function put(text: string): Promise<{ revision: string; at: number }> {
    const at = Date.now();
    await etcdctl(['put', KEY], text);
    const out = await etcdctl(['get', KEY, '-w', 'json']);
    const revision = (JSON.parse(out.stdout) as { kvs: { mod_revision: number }[] }).kvs[0]?.mod_revision;
    assert.ok(revision !== undefined);
    return { revision: String(revision), at };
  }

  async function show(host: LabHost): Promise<Show> {
    return JSON.parse((await fanctl(host, ['policy', 'show', '--json'])).stdout) as Show;
  }

  /** Waits until every host applied `revision` with `hash`; returns the latest appliedAt of them. */
  async function converged(revision: string, hash: string): Promise<number> {
    const shows = await until(`every host to apply revision ${revision}`, async () => {
      const all = await Promise.all(topo.hosts.map(show));
      return all.every((s) => s.watch?.appliedRevision === revision) ? all : undefined;
    });
    for (const [i, s] of shows.entries()) {
      assert.equal(s.hash, hash, `h${i + 1} hash`);
      assert.equal(s.kernelHash, hash, `h${i + 1} kernel hash`);
      assert.equal(s.watch?.appliedHash, hash);
    }
    return Math.max(...shows.map((s) => Date.parse(s.appliedAt ?? '')));
  }

  async function container(host: LabHost, group: string): Promise<{ ns: string; address: string }> {
    const ns = `${NAME}-${host.name}-${group}`;
    await root.run(['ip', 'netns', 'add', ns]);
    containerNs.push(ns);
    await root.run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    const out = await execFanCni(
      host,
      { command: 'ADD', containerId: `fnetpw${host.name}${group}`, netns: `/var/run/netns/${ns}`, ifname: 'eth0' },
      { cniVersion: '1.0.0', name: 'fnetpw', type: 'fan', group },
    );
    assert.equal(out.exitCode, 0, out.stdout + out.stderr);
    const address = ((out.json?.ips as { address: string }[] | undefined)?.[0]?.address ?? '').split('/')[0] ?? '';
    return { ns, address };
  }

  before(async () => {
    await labDown(NAME);
    topo = await labUp({ ...DEFAULT_LAB, name: NAME, hosts: 3, containers: 0 });
    dataRoot = await mkdtemp(`${tmpdir()}/fnetpw-`);
    url = 'http://203.0.113.1:2379';
    await startEtcd();
    for (const [i, host] of topo.hosts.entries()) {
      // h3 runs the watcher as a service of the agent (nothing else: no CNI socket, no metrics port)
      const command =
        i === 2
          ? ['agent', '--no-cni', '--no-metrics', '--policy-etcd', url]
          : ['policy', 'watch', '--etcd', url, '--key', KEY];
      const child = spawn(
        'ip',
        ['netns', 'exec', host.ns, 'env', `FAN_STATE_DIR=${host.stateDir}`, process.execPath, FANCTL, ...command],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      const log: string[] = [];
      child.stderr?.on('data', (chunk: Buffer) => log.push(chunk.toString()));
      watchers.push({ host, child, log });
    }
    await until(
      'every watcher to connect',
      async () => {
        const all = await Promise.all(topo.hosts.map(show));
        return all.every((s) => s.watch?.connected === true && s.watch.alive) ? true : undefined;
      },
      120_000,
    ); // three Node.js start-ups: slow on a loaded machine
  });

  after(async () => {
    if (process.env.FAN_TEST_VERBOSE) for (const w of watchers) process.stderr.write(w.log.join(''));
    for (const w of watchers) {
      if (w.child.pid !== undefined && w.child.exitCode === null) {
        const exited = new Promise<void>((resolve) => w.child.once('exit', () => resolve()));
        w.child.kill('SIGTERM');
        await Promise.race([exited, sleep(10_000)]);
        if (w.child.exitCode === null) w.child.kill('SIGKILL');
      }
    }
    await killEtcd();
    if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
    for (const ns of containerNs) await root.run(['ip', 'netns', 'del', ns], { allowFailure: true });
    await labDown(NAME);
  });

  it('publishes a checked document, and every host applies it', async () => {
    const file = `${dataRoot}/p1.yaml`;
    await writeFile(file, P1);
    const h1 = topo.hosts[0] ?? assert.fail();
    const bad = `${dataRoot}/bad.yaml`;
    await writeFile(bad, BAD);
    const refused = await fanctl(h1, ['policy', 'publish', bad, '--etcd', url], { allowFailure: true });
    assert.notEqual(refused.exitCode, 0, 'publish refuses an invalid document');
    assert.match(refused.stderr, /nosuchgroup/);
    const out = await fanctl(h1, ['policy', 'publish', file, '--etcd', url, '--json']);
    const { revision } = JSON.parse(out.stdout) as { revision: string };
    await converged(revision, hashOf(P1));
    for (const host of topo.hosts) {
      web.push(await container(host, 'web'));
      db.push(await container(host, 'db'));
    }
    assert.ok(await ping(web[0]?.ns ?? '', web[1]?.address ?? ''), 'web h1 -> web h2');
    assert.equal(await ping(web[0]?.ns ?? '', db[1]?.address ?? ''), false, 'web h1 -> db h2 isolated');
  });

  it('converges on a change within 2 s, and the new policy decides traffic', async () => {
    const { revision, at } = await put(P2);
    const last = await converged(revision, hashOf(P2));
    assert.ok(await ping(web[0]?.ns ?? '', db[1]?.address ?? ''), 'web h1 -> db h2 allowed now');
    assert.ok(await ping(web[2]?.ns ?? '', db[0]?.address ?? ''), 'web h3 -> db h1 allowed now');
    assert.ok(last - at <= 2000, `converged ${last - at} ms after the put`);
  });

  it('refuses an invalid document on every host and keeps the previous policy working', async () => {
    const { revision } = await put(BAD);
    const shows = await until('every host to refuse the document', async () => {
      const all = await Promise.all(topo.hosts.map(show));
      return all.every((s) => s.watch?.refused?.revision === revision) ? all : undefined;
    });
    for (const s of shows) {
      assert.match(s.watch?.refused?.error ?? '', /nosuchgroup/);
      assert.equal(s.hash, hashOf(P2));
      assert.equal(s.kernelHash, hashOf(P2));
    }
    const text = (await fanctl(topo.hosts[1] ?? assert.fail(), ['policy', 'show'])).stdout;
    assert.match(text, new RegExp(`refused revision ${revision} at .*nosuchgroup`));
    assert.ok(await ping(web[0]?.ns ?? '', db[1]?.address ?? ''), 'web h1 -> db h2 still allowed');
    assert.ok(await ping(web[1]?.ns ?? '', web[2]?.address ?? ''), 'web h2 -> web h3 still passes');
    assert.equal(await ping(db[1]?.ns ?? '', web[0]?.address ?? ''), false, 'db h2 -> web h1 still isolated');
    for (const w of watchers) assert.match(w.log.join(''), new RegExp(`revision ${revision} refused: .*nosuchgroup`));
  });

  it('survives an etcd restart: a change made afterwards still converges', async () => {
    await killEtcd();
    await until('every watcher to see etcd gone', async () => {
      const all = await Promise.all(topo.hosts.map(show));
      return all.every((s) => s.watch?.connected === false) ? true : undefined;
    });
    await startEtcd();
    await until('every watcher to reconnect', async () => {
      const all = await Promise.all(topo.hosts.map(show));
      return all.every((s) => s.watch?.connected === true) ? true : undefined;
    });
    const { revision, at } = await put(P3);
    const last = await converged(revision, hashOf(P3));
    assert.equal(await ping(web[0]?.ns ?? '', db[1]?.address ?? ''), false, 'web h1 -> db h2 isolated again');
    assert.ok(await ping(db[1]?.ns ?? '', web[0]?.address ?? ''), 'db h2 -> web h1 allowed now');
    for (const w of watchers) assert.equal(w.child.exitCode, null, `the watcher of ${w.host.name} still runs`);
    assert.ok(last - at <= 2000, `converged ${last - at} ms after the put`);
  });
});

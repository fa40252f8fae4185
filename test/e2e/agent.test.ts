/**
 * The fan agent on a lab host: `fanctl agent` runs in the host's namespace with its state dir, the installed `fan`
 * plugin (the C forwarder when it was built) forwards ADD/CHECK/DEL to it, and when the agent is killed in the
 * middle of a burst of ADDs, the calls it had accepted fail with "try again" and the following calls (the plugin
 * in-process, then a restarted agent) converge: every container attached once, no veth or lease left over.
 * Everything is named `fanage-…`; the agent is stopped by its pid; labDown removes the rest, also on failure.
 */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { contains, parseCidr } from '../../src/core/address/ipv4.js';
import { hostVethName } from '../../src/core/attach/names.js';
import { socketAnswers } from '../../src/agent/server.js';
import { type BackgroundProcess, ExecRunner, startProcess } from '../../src/kernel/exec.js';
import { FANCTL, fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { DEFAULT_LAB, type LabHost, type LabTopology } from '../../src/lab/topology.js';
import { type CniCall, type CniOutcome, execPlugin } from '../lab/cni-runtime.js';

const NAME = 'fanage';
const root = new ExecRunner();
const BURST = 30;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('fan agent on a lab host', { timeout: 600_000 }, () => {
  let topo: LabTopology;
  let host: LabHost;
  let plugin: string;
  let agent: BackgroundProcess | undefined;
  let logFile: string;
  let seq = 0;

  const socket = (): string => `${host.stateDir}/agent.sock`;

  let starts = 0;
  async function startAgent(extra: readonly string[] = []): Promise<BackgroundProcess> {
    logFile = `${topo.stateDir}/agent-${++starts}.log`; // one log per start: each test reads its own agent's
    const p = startProcess(
      [
        'ip',
        'netns',
        'exec',
        host.ns,
        'env',
        `FAN_STATE_DIR=${host.stateDir}`,
        process.execPath,
        FANCTL,
        'agent',
        '-v',
        ...extra,
      ],
      { logFile },
    );
    agent = p;
    for (let i = 0; !(await socketAnswers(socket())); i++) {
      assert.ok(
        p.running() && i < 300,
        `the agent listens within 15 s: ${(await readFile(logFile, 'utf8').catch(() => '')).slice(-400)}`,
      );
      await sleep(50);
    }
    return p;
  }

  async function stopAgent(
    p: BackgroundProcess,
    signal: NodeJS.Signals,
  ): Promise<{ exitCode?: number; signal?: string }> {
    process.kill(p.pid, signal);
    const timer = setTimeout(() => p.running() && process.kill(p.pid, 'SIGKILL'), 15_000);
    const exit = await p.exited; // reaped: its pid no longer holds a lock
    clearTimeout(timer);
    return exit;
  }

  async function sandbox(): Promise<{ ns: string; path: string; id: string }> {
    const n = ++seq;
    const ns = `${NAME}-c${n}`;
    await root.run(['ip', 'netns', 'add', ns]);
    return { ns, path: `/var/run/netns/${ns}`, id: `agent${n}x${Date.now().toString(16)}` };
  }

  const call = (command: CniCall['command'], s: { path: string; id: string }): CniCall => ({
    command,
    containerId: s.id,
    netns: s.path,
    ifname: 'eth0',
  });
  const conf = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    cniVersion: '1.0.0',
    name,
    type: 'fan',
    ...extra,
  });
  const run = (c: CniCall, config: unknown): Promise<CniOutcome> => execPlugin(host, [plugin], c, config, 120_000);

  const leasesOf = async (network: string): Promise<{ address: string; owner: string }[]> => {
    const text = await readFile(`${host.stateDir}/ipam/fan-250.json`, 'utf8').catch(() => '{"leases":[]}');
    return (JSON.parse(text) as { leases: { address: string; owner: string }[] }).leases.filter((l) =>
      l.owner.startsWith(`cni:${network}:`),
    );
  };
  const vethsOf = async (network: string): Promise<string[]> => {
    const links = JSON.parse((await root.run(['ip', '-n', host.ns, '-json', '-details', 'link', 'show'])).stdout) as {
      ifname: string;
      ifalias?: string;
    }[];
    return links.filter((l) => l.ifalias?.startsWith(`fan: cni ${network} `)).map((l) => l.ifname);
  };
  const agentLog = (): Promise<string> => readFile(logFile, 'utf8');

  before(async () => {
    await labDown(NAME);
    topo = await labUp({ ...DEFAULT_LAB, name: NAME, hosts: 1, containers: 0 });
    const h = topo.hosts[0];
    assert.ok(h);
    host = h;
    const dir = `${topo.stateDir}/cni`;
    await fanctl(host, ['cni', 'install', '--dir', `${dir}/bin`, '--conf-dir', `${dir}/net.d`]);
    plugin = `${dir}/bin/fan`;
  });

  after(async () => {
    if (agent?.running()) await stopAgent(agent, 'SIGKILL');
    await labDown(NAME);
    const left = (await root.run(['ip', 'netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(`${NAME}-`));
    assert.deepEqual(left, [], 'labDown removed every namespace of the lab');
  });

  it(`serves ADD, CHECK and DEL forwarded by the installed plugin, and Docker with --docker; root-only socket, \
removed when stopped by pid`, async () => {
    const dockerSocket = `${topo.stateDir}/docker/fan.sock`;
    const p = await startAgent(['--docker', '--docker-socket', dockerSocket]);
    assert.equal((await stat(socket())).mode & 0o777, 0o600, 'socket mode 0600');
    const activate = await new Promise<string>((resolve, reject) => {
      const req = request({ socketPath: dockerSocket, path: '/Plugin.Activate', method: 'POST' }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.end('{}');
    });
    assert.deepEqual(
      JSON.parse(activate),
      { Implements: ['NetworkDriver', 'IpamDriver'] },
      'the same process serves the Docker plugin',
    );
    const head = (await readFile(plugin)).subarray(0, 4);
    assert.ok(
      head.equals(Buffer.from('\x7fELF')) || head.subarray(0, 2).toString() === '#!',
      'the plugin is the forwarder binary, or the Node wrapper without clang',
    );

    const s = await sandbox();
    const add = await run(call('ADD', s), conf('agentnet'));
    assert.equal(add.exitCode, 0, add.stdout + add.stderr);
    const address = (add.json?.ips as { address: string }[] | undefined)?.[0]?.address;
    assert.ok(address, add.stdout);
    const slice = JSON.parse((await fanctl(host, ['show', '--json'])).stdout) as { fans: { slice: string }[] };
    assert.ok(
      contains(parseCidr(slice.fans[0]?.slice ?? ''), parseCidr(address).address),
      `${address} in the host's slice`,
    );
    assert.match(
      (await root.run(['ip', '-n', s.ns, '-4', 'address', 'show', 'dev', 'eth0'])).stdout,
      new RegExp(`inet ${address.replace(/\./g, '\\.')}`),
    );
    const check = await run(call('CHECK', s), conf('agentnet', { prevResult: add.json }));
    assert.equal(check.exitCode, 0, check.stdout + check.stderr);
    const del = await run(call('DEL', s), conf('agentnet'));
    assert.equal(del.exitCode, 0, del.stdout + del.stderr);
    assert.deepEqual(await leasesOf('agentnet'), []);
    assert.deepEqual(await vethsOf('agentnet'), []);
    // The agent, not an in-process fallback, did each of them.
    const log = await agentLog();
    for (const verb of ['ADD', 'CHECK', 'DEL'])
      assert.match(log, new RegExp(`cni ${verb} exit 0`), `${verb} served by the agent`);

    const exit = await stopAgent(p, 'SIGTERM');
    assert.equal(exit.exitCode, 0, 'SIGTERM is a clean stop');
    await assert.rejects(stat(socket()), 'the socket is removed');
    await assert.rejects(stat(dockerSocket), 'the Docker socket is removed');
    // No agent: the plugin does the call itself.
    const again = await run(call('DEL', s), conf('agentnet'));
    assert.equal(again.exitCode, 0, again.stdout + again.stderr);
  });

  it(`killed in the middle of a burst of ADDs: the next calls (in-process, then a restarted agent) converge, \
nothing leaks`, async (t) => {
    const network = 'burst';
    const boxes = [];
    for (let i = 0; i < BURST; i++) boxes.push(await sandbox());
    const p = await startAgent();
    let finished = 0;
    let killed: Promise<unknown> | undefined;
    const outcomes = await Promise.all(
      boxes.map((b) =>
        run(call('ADD', b), conf(network)).then((out) => {
          // Kill the agent (by pid, SIGKILL: no clean-up) once a few calls are through and the rest are in flight.
          if (++finished === 3) killed = stopAgent(p, 'SIGKILL');
          return out;
        }),
      ),
    );
    await killed;
    assert.equal(p.running(), false);
    const failed = outcomes.filter((o) => o.exitCode !== 0);
    for (const o of failed) assert.equal(o.json?.code, 11, `a call cut short says "try again later": ${o.stdout}`);
    t.diagnostic(`${BURST - failed.length} of ${BURST} ADDs succeeded around the kill, ${failed.length} got code 11`);

    // What a runtime does with a failed ADD: DEL, then ADD again. The agent is gone: the plugin runs in-process.
    assert.equal(await socketAnswers(socket()), false);
    const results = new Map<string, CniOutcome>();
    for (const [i, b] of boxes.entries()) {
      const first = outcomes[i];
      assert.ok(first);
      if (first.exitCode === 0) {
        results.set(b.id, first);
        continue;
      }
      const del = await run(call('DEL', b), conf(network));
      assert.equal(del.exitCode, 0, del.stdout + del.stderr);
      const add = await run(call('ADD', b), conf(network));
      assert.equal(add.exitCode, 0, add.stdout + add.stderr);
      results.set(b.id, add);
    }

    // Converged: one attachment per container, each with the address its ADD reported, and nothing else.
    const leases = await leasesOf(network);
    assert.equal(leases.length, BURST, 'one lease per container');
    assert.equal(new Set(leases.map((l) => l.address)).size, BURST, 'distinct addresses');
    const veths = await vethsOf(network);
    assert.deepEqual(
      [...veths].sort(),
      boxes.map((b) => hostVethName(b.id, 'eth0')).sort(),
      'one host veth per container',
    );
    for (const b of boxes) {
      const address = (results.get(b.id)?.json?.ips as { address: string }[] | undefined)?.[0]?.address ?? '';
      assert.ok(
        leases.some((l) => `${l.address}/24` === address),
        `${b.id}: its reported address ${address} is its lease`,
      );
      assert.match(
        (await root.run(['ip', '-n', b.ns, '-4', 'address', 'show', 'dev', 'eth0'])).stdout,
        new RegExp(`inet ${address.replace(/[./]/g, '\\$&')}`),
      );
    }

    // A restarted agent replaces the stale socket and removes everything.
    const restarted = await startAgent();
    const dels = await Promise.all(boxes.map((b) => run(call('DEL', b), conf(network))));
    assert.deepEqual(
      dels.filter((d) => d.exitCode !== 0).map((d) => d.stdout),
      [],
    );
    assert.deepEqual(await leasesOf(network), [], 'no lease leaked');
    assert.deepEqual(await vethsOf(network), [], 'no veth leaked');
    assert.match(await agentLog(), /cni DEL exit 0/);
    await stopAgent(restarted, 'SIGTERM');
  });
});

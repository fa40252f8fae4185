/**
 * Docker (Debian's docker.io 20.10) on two lab hosts: a real dockerd in each host's network namespace and a private
 * mount namespace (test/lab/docker.ts), the fan plugin (`fanctl docker-plugin`) serving it, containers on both
 * hosts reaching each other, and `fanctl docker-config`'s bridge-driver command run against the same dockerd.
 * Everything is named `fandock…`; `after` stops every process it started by pid and checks that nothing is left
 * and that the machine's own namespaces did not change.
 */
import { root } from '../../src/lab/shell.js';
import assert from 'node:assert/strict';
import { buildBusyboxTarball } from '../lab/busybox.js';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { contains, formatIpv4, parseCidr, parseIpv4, u32 } from '../../src/core/address/ipv4.js';
import { type BackgroundProcess } from '../../src/kernel/exec.js';
import {
  LAB_DOCKER_ROOT,
  LAB_IMAGE,
  type LabDockerd,
  cgroupV1Mounts,
  docker,
  importImage,
  startDockerd,
  startFanPlugin,
  stopDockerd,
  stopProcess,
  sweepLabDocker,
} from '../lab/docker.js';
import { fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { e2eFanMtu, e2eLab } from './helpers.js';
import { type LabHost, type LabTopology } from '../../src/lab/topology.js';

const NAME = 'fandock';

interface MachineState {
  readonly links: string;
  readonly nft: string;
  readonly ipForward: string;
  readonly etcDocker: boolean;
}

async function machineState(): Promise<MachineState> {
  return {
    links: (await root.run(['ip', '-br', 'link'])).stdout,
    nft: (await root.run(['nft', 'list', 'ruleset'])).stdout,
    ipForward: (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim(),
    etcDocker: existsSync('/etc/docker'),
  };
}

/** Processes whose command line mentions the lab's docker directory or the plugin (ours, if any are left). */
async function leftoverProcesses(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((n) => /^\d+$/.test(n))) {
    const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
    if (cmd.includes(LAB_DOCKER_ROOT) || (cmd.includes('docker-plugin') && cmd.includes(NAME)))
      found.push(`${pid}: ${cmd}`);
  }
  return found;
}

async function leftoverCgroups(): Promise<string[]> {
  const found: string[] = [];
  for (const m of await cgroupV1Mounts()) {
    for (const entry of await readdir(m.mountPoint).catch(() => [] as string[]))
      if (entry.startsWith(`${NAME}-`)) found.push(`${m.mountPoint}/${entry}`);
  }
  return found;
}

async function sliceOf(h: LabHost): Promise<string> {
  const status = JSON.parse((await fanctl(h, ['show', '--json'])).stdout) as {
    fans: { bridge: string; slice: string }[];
  };
  const fan = status.fans.find((f) => f.bridge === 'fan-250');
  assert.ok(fan, `fan-250 is up on ${h.name}`);
  return fan.slice;
}

async function leasesOf(h: LabHost): Promise<{ address: string; owner: string }[]> {
  const text = await readFile(`${h.stateDir}/ipam/fan-250.json`, 'utf8').catch(() => '{"leases":[]}');
  return (JSON.parse(text) as { leases: { address: string; owner: string }[] }).leases;
}

/** Links on the fan bridge of `h` and the bridge's own addresses. */
async function bridgeState(
  h: LabHost,
): Promise<{ ports: { ifname: string; ifalias?: string; mtu: number }[]; addresses: string[] }> {
  const ports = JSON.parse(
    (await root.run(['ip', '-n', h.ns, '-json', 'link', 'show', 'master', 'fan-250'])).stdout || '[]',
  ) as { ifname: string; ifalias?: string; mtu: number }[];
  const br = JSON.parse(
    (await root.run(['ip', '-n', h.ns, '-json', '-4', 'address', 'show', 'dev', 'fan-250'])).stdout,
  ) as { addr_info: { local: string; prefixlen: number }[] }[];
  return { ports, addresses: (br[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`) };
}

async function containerIp(d: LabDockerd, name: string): Promise<string> {
  return (
    await docker(d, ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', name])
  ).stdout.trim();
}

async function ping(d: LabDockerd, name: string, target: string): Promise<boolean> {
  const out = await docker(d, ['exec', name, 'ping', '-c', '2', '-i', '0.2', '-W', '2', target], {
    allowFailure: true,
    timeoutMs: 20_000,
  });
  return out.exitCode === 0;
}

describe('Docker on lab hosts: the fan plugin and the bridge-driver config', { timeout: 240_000 }, () => {
  let topo: LabTopology;
  let machine: MachineState;
  const daemons: LabDockerd[] = [];
  const plugins = new Map<string, BackgroundProcess>();
  const host = (i: number): { h: LabHost; d: LabDockerd } => {
    const h = topo.hosts[i];
    const d = daemons[i];
    assert.ok(h && d);
    return { h, d };
  };

  before(async () => {
    machine = await machineState();
    await labDown(NAME);
    const swept = await sweepLabDocker(NAME); // what a crashed earlier run left
    if (swept.length > 0) process.stderr.write(`# swept: ${swept.join('; ')}\n`);
    topo = await labUp({ ...e2eLab(), name: NAME, hosts: 2, containers: 0 });
    const tarball = await buildBusyboxTarball(topo.stateDir);
    for (const h of topo.hosts) {
      const started = Date.now();
      const d = await startDockerd(h);
      daemons.push(d);
      process.stderr.write(`# dockerd of ${h.ns}: pid ${d.process.pid}, ready in ${Date.now() - started} ms\n`);
      await importImage(d, tarball);
      plugins.set(h.name, await startFanPlugin(d));
    }
  });

  after(async () => {
    // FAN_E2E_LOGS=DIR keeps the plugin and dockerd logs (the data directories are removed below).
    const keep = process.env.FAN_E2E_LOGS;
    if (keep) {
      await mkdir(keep, { recursive: true });
      for (const d of daemons)
        for (const f of ['fan-plugin.log', 'dockerd.log'])
          await copyFile(`${d.dir}/${f}`, `${keep}/${d.host.ns}-${f}`).catch(() => undefined);
    }
    // dockerd first (it may still call the plugin while removing containers), then the plugins, then the lab.
    for (const d of daemons) {
      const forced = await stopDockerd(d);
      if (forced.length > 0) process.stderr.write(`# ${d.host.ns}: had to force: ${forced.join('; ')}\n`);
    }
    for (const p of plugins.values()) await stopProcess(p);
    await labDown(NAME);
    assert.deepEqual(await sweepLabDocker(NAME), [], 'stopDockerd left nothing to sweep');
    assert.deepEqual(await leftoverProcesses(), [], 'no dockerd, containerd, shim or plugin process is left');
    assert.deepEqual(await leftoverCgroups(), [], 'no cgroup of the lab is left');
    assert.equal(existsSync(LAB_DOCKER_ROOT), false, 'the docker data directories are gone');
    const left = (await root.run(['ip', 'netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(`${NAME}-`));
    assert.deepEqual(left, [], 'labDown removed every namespace of the lab');
    assert.deepEqual(
      await machineState(),
      machine,
      "the machine's links, nftables, ip_forward and /etc/docker are unchanged",
    );
  });

  it('a pool request without --subnet fails at once with a message naming the slice', async () => {
    const { h, d } = host(0);
    const started = Date.now();
    const out = await docker(d, ['network', 'create', '-d', 'fan', '--ipam-driver', 'fan', 'nosubnet'], {
      allowFailure: true,
    });
    assert.notEqual(out.exitCode, 0);
    const slice = await sliceOf(h);
    assert.match(out.stderr, /fan: the fan IPAM needs a subnet/);
    assert.ok(out.stderr.includes(`pass --subnet ${slice} (or the overlay 250.0.0.0/8) for fan-250`), out.stderr);
    assert.ok(Date.now() - started < 10_000, 'answered, not retried or timed out');
    const other = await docker(
      d,
      ['network', 'create', '-d', 'fan', '--ipam-driver', 'fan', '--subnet', '250.0.99.0/24', 'wrong'],
      { allowFailure: true },
    );
    assert.notEqual(other.exitCode, 0);
    assert.ok(other.stderr.includes(`this host's slice is ${slice}`), other.stderr);
  });

  it("plugin: containers on two hosts get addresses of their host's slice, fan MTU, and reach each other", async () => {
    const a = host(0);
    const b = host(1);
    const sliceA = await sliceOf(a.h);
    const sliceB = await sliceOf(b.h);
    await docker(a.d, ['network', 'create', '-d', 'fan', '--ipam-driver', 'fan', '--subnet', sliceA, 'fan']);
    // the overlay form
    await docker(b.d, ['network', 'create', '-d', 'fan', '--ipam-driver', 'fan', '--subnet', '250.0.0.0/8', 'fan']);
    await docker(a.d, ['run', '-d', '--name', 'c1', '--network', 'fan', LAB_IMAGE, 'sleep', '120']);
    await docker(b.d, ['run', '-d', '--name', 'c2', '--network', 'fan', LAB_IMAGE, 'sleep', '120']);
    const ipA = await containerIp(a.d, 'c1');
    const ipB = await containerIp(b.d, 'c2');
    assert.equal(ipA, formatIpv4(u32(parseCidr(sliceA).address + 2)), 'first free address after the host reserve');
    assert.ok(
      contains(parseCidr(sliceB), parseIpv4(ipB)),
      `${ipB} in ${sliceB}: --subnet 250.0.0.0/8 means this host's slice`,
    );
    assert.ok(
      (await docker(b.d, ['exec', 'c2', 'ip', '-4', '-o', 'addr', 'show', 'eth0'])).stdout.includes(`${ipB}/24`),
      'with the slice prefix',
    );

    // Inside the container: eth0 with the slice prefix and the fan MTU, default route via the bridge.
    const addr = (await docker(a.d, ['exec', 'c1', 'ip', '-4', '-o', 'addr', 'show', 'eth0'])).stdout;
    assert.ok(addr.includes(`${ipA}/24`), addr);
    assert.equal(
      (await docker(a.d, ['exec', 'c1', 'cat', '/sys/class/net/eth0/mtu'])).stdout.trim(),
      String(e2eFanMtu()),
    );
    const gateway = formatIpv4(u32(parseCidr(sliceA).address + 1));
    assert.match(
      (await docker(a.d, ['exec', 'c1', 'ip', 'route'])).stdout,
      new RegExp(`default via ${gateway.replace(/\./g, '\\.')} dev eth0`),
    );

    // On the host: one veth on the bridge, marked as fan's Docker endpoint; the lease is in the shared IPAM.
    const bridge = await bridgeState(a.h);
    assert.equal(bridge.ports.length, 1, JSON.stringify(bridge.ports));
    assert.match(bridge.ports[0]?.ifname ?? '', /^fan[0-9a-f]{8}$/);
    assert.match(bridge.ports[0]?.ifalias ?? '', /^fan: docker [0-9a-f]{64} [0-9a-f]{64} 250(\.\d+){3}$/);
    assert.equal(bridge.ports[0]?.mtu, e2eFanMtu());
    assert.deepEqual(
      (await leasesOf(a.h)).map((l) => [l.address, l.owner.replace(/:[0-9a-f-]{36}$/, ':<request>')]),
      [[ipA, `docker:fan-250:${sliceA}:<request>`]],
    );

    assert.ok(await ping(a.d, 'c1', ipB), `c1 (${ipA}) on ${a.h.name} reaches c2 (${ipB}) on ${b.h.name}`);
    assert.ok(await ping(b.d, 'c2', ipA), `c2 reaches c1`);

    // A static address (docker run --ip) comes from the same IPAM.
    const fixed = formatIpv4(u32(parseCidr(sliceA).address + 77));
    await docker(a.d, ['run', '-d', '--name', 'c1s', '--network', 'fan', '--ip', fixed, LAB_IMAGE, 'sleep', '120']);
    assert.equal(await containerIp(a.d, 'c1s'), fixed);
    assert.deepEqual((await leasesOf(a.h)).map((l) => l.address).sort(), [ipA, fixed].sort());
  });

  it(`plugin: removing containers and the network releases every lease and veth; \
the bridge keeps its address`, async () => {
    const { h, d } = host(0);
    await docker(d, ['rm', '-f', 'c1', 'c1s']);
    await docker(d, ['network', 'rm', 'fan']);
    assert.deepEqual(await leasesOf(h), []);
    const bridge = await bridgeState(h);
    assert.deepEqual(bridge.ports, []);
    assert.deepEqual(bridge.addresses, [`${formatIpv4(u32(parseCidr(await sliceOf(h)).address + 1))}/24`]);
    const veths = JSON.parse((await root.run(['ip', '-n', h.ns, '-json', 'link', 'show', 'type', 'veth'])).stdout) as {
      ifname: string;
    }[];
    assert.deepEqual(
      veths.map((l) => l.ifname).filter((n) => n.startsWith('fan')),
      [],
      'no container end is left behind either',
    );
  });

  it(`docker-config: its command gives Docker's bridge driver the fan bridge; \
containers reach the plugin's on the other host`, async () => {
    const a = host(0);
    const b = host(1);
    const config = JSON.parse((await fanctl(a.h, ['docker-config', '--json', '--name', 'fanbr'])).stdout) as {
      argv: string[];
      firstAddress: string;
      gateway: string;
      command: string;
    };
    assert.equal(config.argv[0], 'docker');
    const text = (await fanctl(a.h, ['docker-config', '--name', 'fanbr'])).stdout;
    assert.ok(text.endsWith(`${config.command}\n`));
    await docker(a.d, config.argv.slice(1));
    await docker(a.d, ['run', '-d', '--name', 'br1', '--network', 'fanbr', LAB_IMAGE, 'sleep', '120']);
    assert.equal(await containerIp(a.d, 'br1'), config.firstAddress);
    assert.equal(
      (await docker(a.d, ['exec', 'br1', 'cat', '/sys/class/net/eth0/mtu'])).stdout.trim(),
      String(e2eFanMtu()),
    );
    const bridge = await bridgeState(a.h);
    assert.deepEqual(bridge.addresses, [`${config.gateway}/24`], 'Docker left the bridge address alone');
    assert.ok(
      await ping(a.d, 'br1', await containerIp(b.d, 'c2')),
      'bridge-driver container reaches the plugin container on h2',
    );
    assert.ok(await ping(b.d, 'c2', config.firstAddress), 'and back');
    await docker(a.d, ['rm', '-f', 'br1']);
    await docker(a.d, ['network', 'rm', 'fanbr']);
    const after = await bridgeState(a.h);
    assert.deepEqual(
      after.addresses,
      [`${config.gateway}/24`],
      'docker network rm leaves the fan bridge and its address',
    );
    const link = JSON.parse(
      (await root.run(['ip', '-n', a.h.ns, '-json', 'link', 'show', 'dev', 'fan-250'])).stdout,
    ) as { flags: string[] }[];
    assert.ok(link[0]?.flags.includes('UP'));
  });

  it(`plugin: a restarted plugin (no memory) still tears down what the previous one set up; \
SIGTERM removes its socket`, async () => {
    const { h, d } = host(1);
    const old = plugins.get(h.name);
    assert.ok(old);
    await stopProcess(old);
    assert.deepEqual(await old.exited, { exitCode: 0 });
    assert.equal(existsSync(`${d.pluginDir}/fan.sock`), false, 'the socket is removed on SIGTERM');
    plugins.set(h.name, await startFanPlugin(d));
    await docker(d, ['rm', '-f', 'c2']);
    await docker(d, ['network', 'rm', 'fan']);
    assert.deepEqual(await leasesOf(h), []);
    assert.deepEqual((await bridgeState(h)).ports, []);
    const log = await readFile(`${d.dir}/fan-plugin.log`, 'utf8');
    assert.match(log, /\/NetworkDriver\.DeleteEndpoint 200/);
    assert.match(log, /\/IpamDriver\.ReleaseAddress 200/);
    assert.ok(!/\.\w+ 5\d\d \d+ms/.test(log), `no 5xx answers:\n${log}`);
  });
});

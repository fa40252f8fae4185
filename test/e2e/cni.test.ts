/**
 * The fan CNI plugin driven as runtimes drive it (CNI_* environment + configuration on stdin, run inside a lab
 * host's namespace with that host's state dir), chained with Debian's reference plugins, under 200 concurrent
 * ADDs, and under podman. Every namespace is named `fancni-…` and removed by labDown, also on failure.
 */
import { root } from '../../src/lab/shell.js';
import assert from 'node:assert/strict';
import { buildBusyboxTarball } from '../lab/busybox.js';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { type Cidr, contains, formatCidr, formatIpv4, parseCidr } from '../../src/core/address/ipv4.js';
import { hostVethName } from '../../src/core/attach/names.js';
import { ExecRunner } from '../../src/kernel/exec.js';
import { pooled } from '../../src/lab/check.js';
import {
  type CniCall,
  type CniOutcome,
  ConflistRuntime,
  FAN_CNI_ENTRY,
  REFERENCE_PLUGIN_DIR,
  execFanCni,
} from '../lab/cni-runtime.js';
import { fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { type PodmanHost, IMAGE, inPodmanHost, podmanHost, removeLabCgroups, runOptions } from '../lab/podman.js';
import { e2eFanMtu, e2eLab } from './helpers.js';
import { type LabHost, type LabTopology } from '../../src/lab/topology.js';

const NAME = 'fancni';
const SLICE_PREFIX = 24;

interface Installed {
  readonly bin: string;
  readonly conf: string;
}

function conf(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: '1.1.0', name: 'fannet', type: 'fan', ...extra };
}

async function ping(ns: string, target: string): Promise<boolean> {
  const out = await new ExecRunner(ns).run(['ping', '-n', '-c', '2', '-i', '0.2', '-W', '2', target], {
    allowFailure: true,
    timeoutMs: 15_000,
  });
  return out.exitCode === 0;
}

function errorCode(out: CniOutcome): number | undefined {
  return typeof out.json?.code === 'number' ? out.json.code : undefined;
}

/** The container address of an ADD result (1.x shape). */
function resultAddress(out: CniOutcome | Record<string, unknown> | undefined): Cidr {
  const doc: Record<string, unknown> | undefined = out && 'exitCode' in out ? (out as CniOutcome).json : out;
  const ips = doc?.ips as { address: string }[] | undefined;
  const first = ips?.[0];
  assert.ok(first, `no ips in ${JSON.stringify(doc)}`);
  return parseCidr(first.address);
}

describe('fan CNI plugin on lab hosts', { timeout: 420_000 }, () => {
  let topo: LabTopology;
  const installed = new Map<string, Installed>();
  let seq = 0;
  /** A fresh container namespace on `host`, named under the lab prefix (labDown removes it). */
  async function sandbox(host: LabHost, tag = 'k'): Promise<{ ns: string; path: string; id: string }> {
    const n = ++seq;
    const ns = `${NAME}-${host.name}-${tag}${n}`;
    await root.run(['ip', 'netns', 'add', ns]);
    await root.run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    return { ns, path: `/var/run/netns/${ns}`, id: `ctr${n}x${Date.now().toString(16)}` };
  }
  const host = (i: number): LabHost => {
    const h = topo.hosts[i];
    assert.ok(h);
    return h;
  };
  const slice = async (h: LabHost): Promise<Cidr> => {
    const status = JSON.parse((await fanctl(h, ['show', '--json'])).stdout) as {
      fans: { bridge: string; slice: string }[];
    };
    const fan = status.fans.find((f) => f.bridge === 'fan-250');
    assert.ok(fan);
    return parseCidr(fan.slice);
  };
  const call = (command: CniCall['command'], s?: { path: string; id: string }, args?: string): CniCall => ({
    command,
    ...(s ? { containerId: s.id, netns: s.path, ifname: 'eth0' } : {}),
    ...(args !== undefined ? { args } : {}),
  });

  before(async () => {
    await labDown(NAME);
    topo = await labUp({ ...e2eLab(), name: NAME, hosts: 2, containers: 0 });
    for (const h of topo.hosts) {
      const dir = `${topo.stateDir}/cni-${h.name}`;
      const out = await fanctl(h, ['cni', 'install', '--dir', `${dir}/bin`, '--conf-dir', `${dir}/net.d`, '--json']);
      const report = JSON.parse(out.stdout) as { plugin: string; conflists: { path: string; network: string }[] };
      assert.equal(report.plugin, `${dir}/bin/fan`);
      assert.deepEqual(
        report.conflists.map((c) => c.network),
        ['fan-250'],
      );
      installed.set(h.name, { bin: `${dir}/bin`, conf: `${dir}/net.d` });
    }
  });

  after(async () => {
    await labDown(NAME);
    await removeLabCgroups(NAME);
    const left = (await root.run(['ip', 'netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(`${NAME}-`));
    assert.deepEqual(left, [], 'labDown removed every namespace of the lab');
  });

  it('fanctl cni install writes an executable wrapper and a fan + portmap conflist', async () => {
    const i = installed.get('h1');
    assert.ok(i);
    const wrapper = await readFile(`${i.bin}/fan`, 'utf8');
    assert.match(wrapper, new RegExp(`FAN_STATE_DIR:=${host(0).stateDir}`));
    assert.ok(wrapper.includes(FAN_CNI_ENTRY));
    const list = JSON.parse(await readFile(`${i.conf}/50-fan-250.conflist`, 'utf8')) as {
      cniVersion: string;
      plugins: { type: string }[];
    };
    assert.equal(list.cniVersion, '1.0.0');
    assert.deepEqual(
      list.plugins.map((p) => p.type),
      ['fan', 'portmap'],
    );
    // The installed wrapper answers VERSION.
    const out = await root.run(['ip', 'netns', 'exec', host(0).ns, 'env', 'CNI_COMMAND=VERSION', `${i.bin}/fan`], {
      input: '{"cniVersion":"1.0.0"}',
    });
    assert.deepEqual(JSON.parse(out.stdout), { cniVersion: '1.1.0', supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] });
  });

  it('STATUS: ready when the fan is up, code 50 when it is not', async () => {
    assert.equal((await execFanCni(host(0), call('STATUS'), conf())).exitCode, 0);
    const other = await execFanCni(host(0), call('STATUS'), conf({ overlay: '240.0.0.0/8' }));
    assert.equal(errorCode(other), 50, other.stdout);
    assert.match(String(other.json?.msg), /no fan with overlay 240\.0\.0\.0\/8 is up/);
    const empty = `${topo.stateDir}/empty-state`;
    await mkdir(empty, { recursive: true });
    const none = await execFanCni({ ...host(0), stateDir: empty }, call('STATUS'), conf());
    assert.equal(errorCode(none), 50, none.stdout);
    assert.notEqual(none.exitCode, 0);
  });

  it('ADD attaches containers on two hosts that reach each other; CHECK passes; DEL twice succeeds', async () => {
    const a = await sandbox(host(0));
    const b = await sandbox(host(1));
    const addA = await execFanCni(host(0), call('ADD', a), conf());
    const addB = await execFanCni(host(1), call('ADD', b), conf({ cniVersion: '0.4.0' }));
    assert.equal(addA.exitCode, 0, addA.stdout + addA.stderr);
    assert.equal(addB.exitCode, 0, addB.stdout + addB.stderr);
    const ipA = resultAddress(addA);
    const ipB = resultAddress(addB);
    assert.ok(contains(await slice(host(0)), ipA.address), `${formatCidr(ipA)} in h1's slice`);
    assert.ok(contains(await slice(host(1)), ipB.address), `${formatCidr(ipB)} in h2's slice`);
    assert.equal(ipA.prefix, SLICE_PREFIX);
    assert.equal((addB.json?.ips as { version?: string }[])[0]?.version, '4', '0.4.0 result shape');

    // The kernel agrees with the result: address, route, MTU, host end on the bridge, marked as fan's.
    const link = JSON.parse((await root.run(['ip', '-n', a.ns, '-json', 'address', 'show', 'dev', 'eth0'])).stdout) as {
      mtu: number;
      addr_info: { local: string }[];
    }[];
    assert.equal(link[0]?.mtu, e2eFanMtu());
    assert.equal(link[0]?.addr_info.find((x) => x.local)?.local, formatIpv4(ipA.address));
    const routes = (await root.run(['ip', '-n', a.ns, 'route', 'show', 'default'])).stdout;
    assert.match(routes, /default via 250\.0\.11\.1 dev eth0/);
    const hostIf = hostVethName(a.id, 'eth0');
    const hostLink = JSON.parse(
      (await root.run(['ip', '-n', host(0).ns, '-json', '-details', 'link', 'show', 'dev', hostIf])).stdout,
    ) as { master: string; mtu: number; ifalias: string }[];
    assert.equal(hostLink[0]?.master, 'fan-250');
    assert.equal(hostLink[0]?.mtu, e2eFanMtu());
    assert.equal(hostLink[0]?.ifalias, `fan: cni fannet ${a.id} eth0`);

    assert.ok(await ping(a.ns, formatIpv4(ipB.address)), 'h1 container → h2 container');
    assert.ok(await ping(b.ns, formatIpv4(ipA.address)), 'h2 container → h1 container');

    const check = await execFanCni(host(0), call('CHECK', a), conf({ prevResult: addA.json }));
    assert.equal(check.exitCode, 0, check.stdout + check.stderr);
    // CHECK notices a change behind the runtime's back.
    await root.run(['ip', '-n', a.ns, 'route', 'del', 'default']);
    const broken = await execFanCni(host(0), call('CHECK', a), conf({ prevResult: addA.json }));
    assert.equal(errorCode(broken), 100, broken.stdout);

    for (let i = 0; i < 2; i++) {
      const del = await execFanCni(host(0), call('DEL', a), conf());
      assert.equal(del.exitCode, 0, del.stdout + del.stderr);
      assert.equal(del.stdout, '');
      assert.equal((await execFanCni(host(1), call('DEL', b), conf({ cniVersion: '0.4.0' }))).exitCode, 0);
    }
    assert.equal(
      (await root.run(['ip', '-n', host(0).ns, 'link', 'show', 'dev', hostIf], { allowFailure: true })).exitCode,
      1,
      'host veth removed',
    );
    const leases = JSON.parse(await readFile(`${host(0).stateDir}/ipam/fan-250.json`, 'utf8')) as { leases: unknown[] };
    assert.deepEqual(leases.leases, []);
    // DEL of a container whose namespace is gone, and of one never added.
    await root.run(['ip', 'netns', 'del', a.ns]);
    assert.equal((await execFanCni(host(0), call('DEL', a), conf())).exitCode, 0);
    assert.equal(
      (await execFanCni(host(0), { command: 'DEL', containerId: 'never-added', ifname: 'eth0' }, conf())).exitCode,
      0,
    );
  });

  it('takes CNI_NETNS as /proc/PID/ns/net', async () => {
    const s = await sandbox(host(0));
    const sleeper = root.run(['ip', 'netns', 'exec', s.ns, 'sleep', '30'], { allowFailure: true, timeoutMs: 40_000 });
    let pid: number | undefined;
    for (let i = 0; i < 50 && pid === undefined; i++) {
      pid = Number((await root.run(['ip', 'netns', 'pids', s.ns])).stdout.split(/\s+/).find(Boolean)) || undefined;
      if (pid === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(pid, 'the sleeper runs in the namespace');
    try {
      const byPid = { ...s, path: `/proc/${pid}/ns/net` };
      const add = await execFanCni(host(0), call('ADD', byPid), conf());
      assert.equal(add.exitCode, 0, add.stdout + add.stderr);
      assert.equal((add.json?.interfaces as { sandbox?: string }[])[1]?.sandbox, byPid.path);
      assert.match(
        (await root.run(['ip', '-n', s.ns, '-4', 'address', 'show', 'dev', 'eth0'])).stdout,
        /inet 250\.0\.11\.\d+\/24/,
      );
      assert.equal((await execFanCni(host(0), call('DEL', byPid), conf())).exitCode, 0);
    } finally {
      process.kill(pid, 'SIGKILL');
      await sleeper;
    }
  });

  it('static addresses: granted inside the slice, refused outside it (naming the slice) and when taken', async () => {
    const s1 = await sandbox(host(0));
    const s2 = await sandbox(host(0));
    const s3 = await sandbox(host(0));
    const ok = await execFanCni(host(0), call('ADD', s1, 'IgnoreUnknown=1;IP=250.0.11.77'), conf());
    assert.equal(ok.exitCode, 0, ok.stdout);
    assert.equal(formatCidr(resultAddress(ok)), '250.0.11.77/24');
    const outside = await execFanCni(host(0), call('ADD', s2, 'IP=250.0.12.5'), conf());
    assert.equal(errorCode(outside), 7);
    assert.match(String(outside.json?.msg), /250\.0\.12\.5 is outside this host's slice 250\.0\.11\.0\/24/);
    const taken = await execFanCni(
      host(0),
      call('ADD', s3),
      conf({ capabilities: { ips: true }, runtimeConfig: { ips: ['250.0.11.77/24'] } }),
    );
    assert.equal(errorCode(taken), 7);
    assert.match(String(taken.json?.msg), /already held by cni:fannet:/);
    // Nothing half-made is left by the refused ADDs.
    assert.equal((await root.run(['ip', '-n', s2.ns, 'link', 'show', 'eth0'], { allowFailure: true })).exitCode, 1);
    assert.equal((await execFanCni(host(0), call('DEL', s1), conf())).exitCode, 0);
  });

  it('rolls a failed ADD back: no veth, no interface, no lease', async () => {
    const s = await sandbox(host(0));
    // A default route already in the container makes the last step of ADD fail.
    await root.run(['ip', '-n', s.ns, 'route', 'add', 'default', 'dev', 'lo']);
    const add = await execFanCni(host(0), call('ADD', s), conf({ name: 'rollback' }));
    assert.equal(errorCode(add), 999, add.stdout);
    assert.match(String(add.json?.msg), /route add default via 250\.0\.11\.1 dev eth0|File exists/);
    assert.equal(
      (
        await root.run(['ip', '-n', host(0).ns, 'link', 'show', 'dev', hostVethName(s.id, 'eth0')], {
          allowFailure: true,
        })
      ).exitCode,
      1,
      'host veth removed',
    );
    assert.equal(
      (await root.run(['ip', '-n', s.ns, 'link', 'show', 'dev', 'eth0'], { allowFailure: true })).exitCode,
      1,
      'container interface removed',
    );
    const doc = JSON.parse(await readFile(`${host(0).stateDir}/ipam/fan-250.json`, 'utf8')) as {
      leases: { owner: string }[];
    };
    assert.deepEqual(
      doc.leases.filter((l) => l.owner.startsWith('cni:rollback:')),
      [],
      'address released',
    );
  });

  it("chains with Debian's portmap, firewall, tuning and bandwidth the way libcni runs a conflist", async () => {
    const i = installed.get('h1');
    assert.ok(i);
    const h1 = host(0);
    const runtime = new ConflistRuntime(
      h1,
      {
        cniVersion: '1.0.0',
        name: 'fanchain',
        plugins: [
          // bandwidth's egress limit needs the port's ingress hook, which a fast path would take.
          { type: 'fan', fastPath: false },
          { type: 'tuning', sysctl: { 'net.core.somaxconn': '512' } },
          { type: 'portmap', capabilities: { portMappings: true }, snat: true },
          { type: 'firewall', backend: 'iptables' },
          { type: 'bandwidth', capabilities: { bandwidth: true } },
        ],
      },
      [i.bin, REFERENCE_PLUGIN_DIR],
    );
    const s = await sandbox(h1);
    const attachment = {
      containerId: s.id,
      netns: s.path,
      ifname: 'eth0',
      runtimeConfig: {
        portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
        bandwidth: {
          ingressRate: 100_000_000,
          ingressBurst: 1_000_000,
          egressRate: 100_000_000,
          egressBurst: 1_000_000,
        },
      },
    };
    const result = await runtime.add(attachment);
    try {
      const ip = formatIpv4(resultAddress(result).address);
      const hostIf = hostVethName(s.id, 'eth0');
      // Every plugin did its part.
      assert.equal(
        (await new ExecRunner(s.ns).run(['cat', '/proc/sys/net/core/somaxconn'])).stdout.trim(),
        '512',
        'tuning',
      );
      const nat = (await new ExecRunner(h1.ns).run(['iptables', '-w', '-t', 'nat', '-S'])).stdout;
      assert.match(nat, new RegExp(`--to-destination ${ip.replace(/\./g, '\\.')}:80`), 'portmap DNAT');
      const filter = (await new ExecRunner(h1.ns).run(['iptables', '-w', '-S', 'CNI-FORWARD'])).stdout;
      assert.ok(filter.includes(ip), 'firewall rules for the container');
      assert.match(
        (await new ExecRunner(h1.ns).run(['tc', 'qdisc', 'show', 'dev', hostIf])).stdout,
        /tbf/,
        'bandwidth shaping on the host veth',
      );
      // Debian's portmap 1.1.1 fails CHECK on IPv4-only attachments ("could not check ipv6 dnat",
      // containernetworking/plugins#819, fixed upstream later): CHECK every other plugin of the list.
      await runtime.check(attachment, result, ['portmap']);

      // The port mapping works end to end: outside → host1:8080 → container:80.
      const server = new ExecRunner(s.ns).run(
        ['busybox', 'timeout', '15', 'busybox', 'nc', '-l', '-p', '80', '-e', 'echo', 'hello-from-fan'],
        { allowFailure: true, timeoutMs: 20_000 },
      );
      let answer = '';
      for (let attempt = 0; attempt < 20 && !answer.includes('hello-from-fan'); attempt++) {
        await new Promise((r) => setTimeout(r, 200));
        answer = (
          await new ExecRunner(topo.outsideNs).run(
            ['busybox', 'nc', '-w', '2', formatIpv4(h1.underlay.address), '8080'],
            { allowFailure: true, timeoutMs: 5_000 },
          )
        ).stdout;
      }
      await server;
      assert.match(answer, /hello-from-fan/, 'portmap forwards the host port to the container');

      await runtime.del(attachment, result);
      await runtime.del(attachment, result); // twice, as runtimes may
      assert.doesNotMatch(
        (await new ExecRunner(h1.ns).run(['iptables', '-w', '-t', 'nat', '-S'])).stdout,
        new RegExp(ip.replace(/\./g, '\\.')),
        'portmap rules removed',
      );
      assert.doesNotMatch(
        (await new ExecRunner(h1.ns).run(['iptables', '-w', '-S'])).stdout,
        new RegExp(ip.replace(/\./g, '\\.')),
        'firewall rules removed',
      );
      assert.equal(
        (await root.run(['ip', '-n', h1.ns, 'link', 'show', 'dev', hostIf], { allowFailure: true })).exitCode,
        1,
        'veth removed',
      );
    } finally {
      await runtime.del(attachment, result).catch(() => undefined);
    }
  });

  it('GC removes the leases and host veths of attachments not in cni.dev/valid-attachments', async () => {
    const h1 = host(0);
    const boxes = [await sandbox(h1), await sandbox(h1), await sandbox(h1)];
    for (const b of boxes) assert.equal((await execFanCni(h1, call('ADD', b), conf({ name: 'gcnet' }))).exitCode, 0);
    const [keep, ...stale] = boxes;
    assert.ok(keep);
    const gc = await execFanCni(
      h1,
      call('GC'),
      conf({ name: 'gcnet', 'cni.dev/valid-attachments': [{ containerID: keep.id, ifname: 'eth0' }] }),
    );
    assert.equal(gc.exitCode, 0, gc.stdout + gc.stderr);
    const leases = (
      JSON.parse(await readFile(`${h1.stateDir}/ipam/fan-250.json`, 'utf8')) as { leases: { owner: string }[] }
    ).leases.map((l) => l.owner);
    assert.deepEqual(
      leases.filter((o) => o.startsWith('cni:gcnet:')),
      [`cni:gcnet:${keep.id}`],
    );
    for (const s of stale) {
      assert.equal(
        (await root.run(['ip', '-n', h1.ns, 'link', 'show', 'dev', hostVethName(s.id, 'eth0')], { allowFailure: true }))
          .exitCode,
        1,
      );
    }
    assert.ok(await ping(keep.ns, '250.0.11.1'), 'the valid attachment still works');
    assert.equal((await execFanCni(h1, call('DEL', keep), conf({ name: 'gcnet' }))).exitCode, 0);
  });

  it(`exhaustion answers code 11; a fan whose DHCP range covers the slice is not ready (50) and refuses ADD \
(7)`, async () => {
    const h2 = host(1);
    // A second fan with 4 container addresses (host-reserve 250 of a /24), and a third whose DHCP range takes all.
    await fanctl(h2, ['up', '-o', '251.0.0.0/8', '-u', '172.16.0.0/16', '--host-reserve', '250']);
    await fanctl(h2, ['up', '-o', '252.0.0.0/8', '-u', '172.16.0.0/16', '--dhcp-range', '253']);
    const small = conf({ name: 'smallnet', overlay: '251.0.0.0/8' });
    const boxes = await Promise.all([1, 2, 3, 4, 5].map(() => sandbox(h2)));
    const results = await Promise.all(boxes.map((b) => execFanCni(h2, call('ADD', b), small)));
    const ok = results.filter((r) => r.exitCode === 0);
    const failed = results.filter((r) => r.exitCode !== 0);
    assert.equal(ok.length, 4);
    assert.equal(new Set(ok.map((r) => formatCidr(resultAddress(r)))).size, 4);
    assert.equal(failed.length, 1);
    assert.equal(errorCode(failed[0] as CniOutcome), 11, failed[0]?.stdout);
    assert.match(String(failed[0]?.json?.msg), /is full: all 4 container addresses of slice 251\.0\.12\.0\/24/);
    for (const b of boxes) assert.equal((await execFanCni(h2, call('DEL', b), small)).exitCode, 0);

    const dhcp = conf({ name: 'dhcpnet', overlay: '252.0.0.0/8' });
    const status = await execFanCni(h2, call('STATUS'), dhcp);
    assert.equal(errorCode(status), 50, status.stdout);
    const s = await sandbox(h2);
    const add = await execFanCni(h2, call('ADD', s), dhcp);
    assert.equal(errorCode(add), 7, add.stdout);
    assert.match(String(add.json?.details), /without dhcp/);
  });

  it(
    '200 concurrent ADDs on one host get 200 distinct addresses of the slice; DEL frees all; DEL again succeeds',
    { timeout: 240_000 },
    async (t) => {
      const h1 = host(0);
      const sliceH1 = await slice(h1);
      const boxes: { ns: string; path: string; id: string }[] = [];
      for (let i = 0; i < 200; i++) boxes.push(await sandbox(h1, 'p'));
      const started = Date.now();
      const adds = await pooled(
        boxes.map((b) => () => execFanCni(h1, call('ADD', b), conf({ name: 'bulk', cniVersion: '1.0.0' }), 120_000)),
        24,
      );
      const addMs = Date.now() - started;
      const failed = adds.filter((r) => r.exitCode !== 0);
      assert.deepEqual(
        failed.map((r) => r.stdout),
        [],
      );
      const addresses = adds.map((r) => resultAddress(r));
      assert.equal(new Set(addresses.map((a) => a.address)).size, 200, 'distinct addresses');
      for (const a of addresses) {
        assert.ok(
          contains(sliceH1, a.address) && a.address !== sliceH1.address + 1 && a.address !== sliceH1.address + 255,
          formatCidr(a),
        );
      }
      const leaseFile = `${h1.stateDir}/ipam/fan-250.json`;
      const bulkLeases = async (): Promise<number> =>
        (JSON.parse(await readFile(leaseFile, 'utf8')) as { leases: { owner: string }[] }).leases.filter((l) =>
          l.owner.startsWith('cni:bulk:'),
        ).length;
      assert.equal(await bulkLeases(), 200);
      const bulkVeths = async (): Promise<number> =>
        (
          JSON.parse(
            (await root.run(['ip', '-n', h1.ns, '-json', '-details', 'link', 'show', 'master', 'fan-250'])).stdout,
          ) as { ifalias?: string }[]
        ).filter((l) => l.ifalias?.startsWith('fan: cni bulk ')).length;
      assert.equal(await bulkVeths(), 200);

      const delStarted = Date.now();
      const dels = await pooled(
        boxes.map((b) => () => execFanCni(h1, call('DEL', b), conf({ name: 'bulk', cniVersion: '1.0.0' }), 120_000)),
        24,
      );
      const delMs = Date.now() - delStarted;
      assert.deepEqual(
        dels.filter((r) => r.exitCode !== 0).map((r) => r.stdout),
        [],
      );
      assert.equal(await bulkLeases(), 0, 'every address released');
      assert.equal(await bulkVeths(), 0, 'every host veth removed');
      const again = await pooled(
        boxes.map((b) => () => execFanCni(h1, call('DEL', b), conf({ name: 'bulk', cniVersion: '1.0.0' }), 120_000)),
        24,
      );
      assert.deepEqual(
        again.filter((r) => r.exitCode !== 0).map((r) => r.stdout),
        [],
      );
      t.diagnostic(`200 ADDs in ${addMs} ms, 200 DELs in ${delMs} ms (24 at a time)`);
      await writeFile(`${topo.stateDir}/bulk-timing.json`, JSON.stringify({ addMs, delMs }));
      await pooled(
        boxes.map((b) => () => root.run(['ip', 'netns', 'del', b.ns], { allowFailure: true })),
        8,
      );
    },
  );

  it('podman: containers on two lab hosts reach each other over the fan network', { timeout: 180_000 }, async (t) => {
    const available = await root.run(['podman', '--version'], { allowFailure: true }).catch(() => ({ exitCode: 127 }));
    if (available.exitCode !== 0) {
      t.skip('podman is not installed (apt-get install podman)');
      return;
    }
    const image = await buildBusyboxTarball(`${topo.stateDir}/image`);
    const hosts: PodmanHost[] = [];
    for (const h of topo.hosts) {
      const i = installed.get(h.name);
      assert.ok(i);
      hosts.push(await podmanHost(topo, h, { bin: i.bin, conf: i.conf }));
    }
    const [p1, p2] = hosts;
    assert.ok(p1 && p2);
    const importImage = `$P image exists ${IMAGE} || $P import -q ${image} ${IMAGE} >/dev/null`;
    const stop = `${p2.dir}/stop`;
    const ipFile = `${p2.dir}/c2.ip`;
    // Host 2 keeps a container running until told to stop; its address goes to a file.
    const server = inPodmanHost(
      p2,
      `${importImage}
$P run -d --name fan-c2 ${runOptions(p2)} --network fan-250 ${IMAGE} sleep 150 >/dev/null
$P exec fan-c2 ip -4 -o address show dev eth0 | awk '{print $4}' > ${ipFile}.tmp && mv ${ipFile}.tmp ${ipFile}
i=0; while [ ! -e ${stop} ] && [ $i -lt 1400 ]; do sleep 0.1; i=$((i+1)); done
$P rm -f -t 0 fan-c2 >/dev/null`,
      170_000,
    );
    try {
      let address = '';
      for (let i = 0; i < 600 && address === ''; i++) {
        address = (await readFile(ipFile, 'utf8').catch(() => '')).trim();
        if (address === '') await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(address, /^250\.0\.12\.\d+\/24$/, "the host-2 container has an address of host 2's slice");
      const target = address.split('/')[0] ?? '';
      const client = await inPodmanHost(
        p1,
        `${importImage}
$P run --rm ${runOptions(p1)} --network fan-250 ${IMAGE} sh -c 'ip -4 -o address show dev eth0; \
ping -c 3 -W 2 ${target}'`,
        120_000,
      );
      assert.equal(client.exitCode, 0, client.stdout + client.stderr);
      assert.match(client.stdout, /inet 250\.0\.11\.\d+\/24/, "the host-1 container has an address of host 1's slice");
      assert.match(client.stdout, /3 packets transmitted, 3 packets received/);
    } finally {
      await writeFile(stop, '');
      const done = await server;
      t.diagnostic(
        `podman host 2: exit ${done.exitCode}${done.stderr.trim() ? `: ${done.stderr.trim().slice(0, 300)}` : ''}`,
      );
    }
    // podman ran DEL on removal: the leases are gone on both hosts.
    for (const h of topo.hosts) {
      const doc = JSON.parse(await readFile(`${h.stateDir}/ipam/fan-250.json`, 'utf8')) as {
        leases: { owner: string }[];
      };
      assert.deepEqual(
        doc.leases.filter((l) => l.owner.startsWith('cni:fan-250:')),
        [],
        `${h.name} leases released`,
      );
    }
  });
});

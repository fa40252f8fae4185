/**
 * LXD (Debian's lxd 5.0) on two lab hosts of a --dhcp fan: a real LXD per host (test/lab/lxd.ts), the profile made
 * by `fanctl lxd enable` through the real lxc client, `lxc launch IMAGE NAME -p default -p fan-250`, instances that
 * take their address from the DHCP share of the slice and reach each other across hosts; and on ONE host an LXD
 * instance (DHCP), a CNI container (fan-cni, the shared IPAM) and a Docker container (dockerd + the fan plugin, the
 * same IPAM) that never collide and reach each other. Everything is named `fanlx…`; `after` deletes every instance
 * and container, stops every daemon by pid and checks that no process, cgroup or directory is left.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { type Cidr, contains, formatIpv4, parseCidr, parseIpv4 } from '../../src/core/address/ipv4.js';
import { type SliceLayout, inRange, layoutOf } from '../../src/core/mapping/layout.js';
import { type BackgroundProcess, ExecRunner } from '../../src/kernel/exec.js';
import { fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { DEFAULT_LAB, type LabHost, type LabTopology } from '../../src/lab/topology.js';
import { buildBusyboxTarball } from '../lab/busybox.js';
import { execFanCni } from '../lab/cni-runtime.js';
import { cgroupV1Mounts, stopProcess } from '../lab/private-ns.js';
import {
  LAB_IMAGE,
  type LabDockerd,
  docker,
  importImage,
  startDockerd,
  startFanPlugin,
  stopDockerd,
} from '../lab/docker.js';
import {
  LAB_LXD_ROOT,
  LXD_IMAGE,
  type LabLxd,
  buildLxdImage,
  fanctlLxd,
  importLxdImage,
  instanceAddress,
  lxc,
  startLxd,
  stopLxd,
} from '../lab/lxd.js';

const NAME = 'fanlxd';
const WORK = `/var/tmp/${NAME}-work`;
const root = new ExecRunner();

async function sliceOf(h: LabHost): Promise<Cidr> {
  const status = JSON.parse((await fanctl(h, ['show', '--json'])).stdout) as {
    fans: { bridge: string; slice: string }[];
  };
  const fan = status.fans.find((f) => f.bridge === 'fan-250');
  assert.ok(fan, `fan-250 is up on ${h.name}`);
  return parseCidr(fan.slice);
}

/** The layout `fanctl up --dhcp` uses (host-reserve 1, default split), computed independently of dnsmasq's config. */
async function layoutOfHost(h: LabHost): Promise<SliceLayout> {
  return layoutOf({ slice: await sliceOf(h), hostReserve: 1, dhcp: true });
}

async function ping(d: LabLxd, instance: string, address: string): Promise<boolean> {
  return (
    (
      await lxc(d, ['exec', instance, '--', 'ping', '-c', '1', '-W', '3', address], {
        allowFailure: true,
        timeoutMs: 15_000,
      })
    ).exitCode === 0
  );
}

async function leftovers(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((n) => /^\d+$/.test(n))) {
    const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
    if (cmd.includes(`${LAB_LXD_ROOT}/${NAME}`) || cmd.includes(`fanlab-docker/${NAME}`))
      found.push(`process ${pid}: ${cmd}`);
  }
  for (const m of await cgroupV1Mounts()) {
    for (const entry of await readdir(m.mountPoint).catch(() => [] as string[])) {
      if (
        entry.startsWith(`${NAME}-`) ||
        entry.startsWith('lxc.payload.fanlx') ||
        entry.startsWith('lxc.monitor.fanlx')
      )
        found.push(`cgroup ${m.mountPoint}/${entry}`);
    }
  }
  for (const entry of await readdir(LAB_LXD_ROOT).catch(() => [] as string[]))
    if (entry.startsWith(NAME)) found.push(`dir ${LAB_LXD_ROOT}/${entry}`);
  return found;
}

describe('LXD on a DHCP fan, beside CNI and Docker on one host', { timeout: 600_000 }, () => {
  let topo: LabTopology;
  const lxds = new Map<string, LabLxd>();
  let dockerd: LabDockerd | undefined;
  let plugin: BackgroundProcess | undefined;
  const cniBoxes: { host: LabHost; ns: string; id: string }[] = [];
  const host = (i: number): LabHost => {
    const h = topo.hosts[i];
    assert.ok(h);
    return h;
  };
  const lxdOf = (h: LabHost): LabLxd => {
    const d = lxds.get(h.name);
    assert.ok(d, `lxd runs on ${h.name}`);
    return d;
  };
  const cniConf = { cniVersion: '1.0.0', name: 'lxdnet', type: 'fan', overlay: '250.0.0.0/8' };

  before(async () => {
    await labDown(NAME);
    topo = await labUp({ ...DEFAULT_LAB, name: NAME, hosts: 2, containers: 0, dhcp: true });
    await rm(WORK, { recursive: true, force: true });
    await mkdir(WORK, { recursive: true });
    const image = await buildLxdImage(WORK);
    for (const h of topo.hosts) {
      const d = await startLxd(h);
      lxds.set(h.name, d);
      await importLxdImage(d, image);
    }
  });

  after(async () => {
    const forced: string[] = [];
    for (const box of cniBoxes) {
      await execFanCni(
        box.host,
        { command: 'DEL', containerId: box.id, netns: `/var/run/netns/${box.ns}`, ifname: 'eth0' },
        cniConf,
      ).catch(() => undefined);
      await root.run(['ip', 'netns', 'del', box.ns], { allowFailure: true });
    }
    // Docker's own teardown of its containers talks to the plugin: stop dockerd first.
    if (dockerd) forced.push(...(await stopDockerd(dockerd)));
    if (plugin) await stopProcess(plugin);
    for (const d of lxds.values()) forced.push(...(await stopLxd(d)));
    await labDown(NAME);
    await rm(WORK, { recursive: true, force: true });
    assert.deepEqual(await leftovers(), [], 'every process, cgroup and directory the test created is gone');
    assert.deepEqual(forced, [], 'every daemon cleaned up after itself');
  });

  it('lxd enable creates the profile with lxc (profile create, then edit); a second run changes nothing', async () => {
    for (const h of topo.hosts) {
      const d = lxdOf(h);
      const first = JSON.parse((await fanctlLxd(d, ['lxd', 'enable', '--json'])).stdout) as {
        outcome: string;
        profile: string;
      };
      assert.deepEqual([first.outcome, first.profile], ['created', 'fan-250']);
      const profiles = JSON.parse((await lxc(d, ['profile', 'list', '--format', 'json'])).stdout) as {
        name: string;
        devices: Record<string, Record<string, string>>;
      }[];
      assert.deepEqual(profiles.find((p) => p.name === 'fan-250')?.devices.eth0, {
        name: 'eth0',
        type: 'nic',
        nictype: 'bridged',
        parent: 'fan-250',
        mtu: '1450',
      });
      const again = JSON.parse((await fanctlLxd(d, ['lxd', 'enable', '--json'])).stdout) as {
        outcome: string;
        steps: unknown[];
      };
      assert.deepEqual([again.outcome, again.steps], ['unchanged', []]);
    }
    // The README's manual form: lxc profile create NAME, then fanctl lxd-profile --name NAME | lxc profile edit NAME.
    const d2 = lxdOf(host(1));
    await lxc(d2, ['profile', 'create', 'fanlx-manual']);
    const yaml = (await fanctlLxd(d2, ['lxd-profile', '--name', 'fanlx-manual'])).stdout;
    await lxc(d2, ['profile', 'edit', 'fanlx-manual'], { input: yaml });
    assert.match((await lxc(d2, ['profile', 'show', 'fanlx-manual'])).stdout, /parent: fan-250/);
    await lxc(d2, ['profile', 'delete', 'fanlx-manual']);
    // A profile changed by hand is brought back, keeping what fanctl does not own.
    const d = lxdOf(host(0));
    await lxc(d, ['profile', 'device', 'set', 'fan-250', 'eth0', 'mtu', '1400']);
    await lxc(d, ['profile', 'set', 'fan-250', 'limits.processes', '500']);
    const fixed = JSON.parse((await fanctlLxd(d, ['lxd', 'enable', '--json'])).stdout) as { outcome: string };
    assert.equal(fixed.outcome, 'updated');
    const shown = (await lxc(d, ['profile', 'show', 'fan-250'])).stdout;
    assert.match(shown, /mtu: "1450"/);
    assert.match(shown, /limits\.processes: "500"/);
  });

  it('instances (-p default -p fan-250): DHCP-share addresses, fan MTU, reach each other across hosts', async () => {
    const [h1, h2] = [host(0), host(1)];
    await lxc(lxdOf(h1), ['launch', LXD_IMAGE, 'fanlx-a', '-p', 'default', '-p', 'fan-250']);
    await lxc(lxdOf(h2), ['launch', LXD_IMAGE, 'fanlx-b', '-p', 'default', '-p', 'fan-250']);
    const a = await instanceAddress(lxdOf(h1), 'fanlx-a');
    const b = await instanceAddress(lxdOf(h2), 'fanlx-b');
    const [l1, l2] = [await layoutOfHost(h1), await layoutOfHost(h2)];
    assert.ok(inRange(l1.dhcp, parseIpv4(a)), `${a} is in h1's DHCP share`);
    assert.ok(inRange(l2.dhcp, parseIpv4(b)), `${b} is in h2's DHCP share`);
    const mtu = (await lxc(lxdOf(h1), ['exec', 'fanlx-a', '--', 'cat', '/sys/class/net/eth0/mtu'])).stdout.trim();
    assert.equal(mtu, '1450');
    assert.ok(await ping(lxdOf(h1), 'fanlx-a', b), `fanlx-a (${a}) reaches fanlx-b (${b}) on the other host`);
    assert.ok(await ping(lxdOf(h2), 'fanlx-b', a), `fanlx-b (${b}) reaches fanlx-a (${a})`);
  });

  it('on one host, LXD (DHCP), a CNI and a Docker container get disjoint addresses and reach each other', async () => {
    const h1 = host(0);
    const layout = await layoutOfHost(h1);
    // CNI: the fan plugin allocates from the IPAM share.
    const ns = `${NAME}-h1-p1`;
    await root.run(['ip', 'netns', 'add', ns]);
    await root.run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    const box = { host: h1, ns, id: `fanlx${Date.now().toString(16)}` };
    cniBoxes.push(box);
    const add = await execFanCni(
      h1,
      { command: 'ADD', containerId: box.id, netns: `/var/run/netns/${ns}`, ifname: 'eth0' },
      cniConf,
    );
    assert.equal(add.exitCode, 0, add.stdout + add.stderr);
    const cniAddress =
      String((add.json?.ips as { address: string }[] | undefined)?.[0]?.address ?? '').split('/')[0] ?? '';
    // Docker: a real dockerd with the fan plugin (the same IPAM).
    dockerd = await startDockerd(h1);
    const tarball = await buildBusyboxTarball(WORK);
    await importImage(dockerd, tarball);
    plugin = await startFanPlugin(dockerd);
    await docker(dockerd, ['network', 'create', '-d', 'fan', '--ipam-driver', 'fan', '--subnet', '250.0.0.0/8', 'fan']);
    await docker(dockerd, ['run', '-d', '--name', 'fanlx-d', '--network', 'fan', LAB_IMAGE, 'sleep', '600']);
    const dockerAddress = (
      await docker(dockerd, ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', 'fanlx-d'])
    ).stdout.trim();
    // LXD: one more instance, by DHCP.
    const d = lxdOf(h1);
    await lxc(d, ['launch', LXD_IMAGE, 'fanlx-c', '-p', 'default', '-p', 'fan-250']);
    const lxdAddresses = [await instanceAddress(d, 'fanlx-a'), await instanceAddress(d, 'fanlx-c')];

    for (const x of [cniAddress, dockerAddress]) {
      assert.ok(
        layout.ipam.some((r) => inRange(r, parseIpv4(x))),
        `${x} is in the IPAM share ${layout.ipam.map((r) => `${formatIpv4(r.start)}-${formatIpv4(r.end)}`).join(',')}`,
      );
    }
    for (const x of lxdAddresses) assert.ok(inRange(layout.dhcp, parseIpv4(x)), `${x} is in the DHCP share`);
    const all = [cniAddress, dockerAddress, ...lxdAddresses];
    assert.equal(new Set(all).size, all.length, `no two share an address: ${all.join(' ')}`);
    for (const x of all) assert.ok(contains(layout.slice, parseIpv4(x)));

    for (const target of [cniAddress, dockerAddress])
      assert.ok(await ping(d, 'fanlx-c', target), `LXD instance reaches ${target}`);
    const fromCni = await root.run(
      ['ip', 'netns', 'exec', ns, 'ping', '-c', '1', '-W', '3', lxdAddresses[1] as string],
      { allowFailure: true },
    );
    assert.equal(fromCni.exitCode, 0, 'the CNI container reaches the LXD instance');
    const fromDocker = await docker(
      dockerd,
      ['exec', 'fanlx-d', 'ping', '-c', '1', '-W', '3', lxdAddresses[1] as string],
      { allowFailure: true },
    );
    assert.equal(fromDocker.exitCode, 0, 'the Docker container reaches the LXD instance');
    // dnsmasq's leases hold only DHCP-share addresses.
    const leases = await readFile(`${h1.stateDir}/fan-250.leases`, 'utf8');
    for (const line of leases.trim().split('\n').filter(Boolean)) {
      const address = line.split(' ')[2] ?? '';
      assert.ok(inRange(layout.dhcp, parseIpv4(address)), `dnsmasq lease ${address} is in the DHCP share`);
    }
  });

  it('lxd disable refuses while the profile is in use; --force takes it off and removes it; again: no-op', async () => {
    const d = lxdOf(host(1));
    const refused = await fanctlLxd(d, ['lxd', 'disable'], { allowFailure: true });
    assert.equal(refused.exitCode, 2, refused.stderr);
    assert.match(refused.stderr, /LXD profile fan-250 is used by 1 instance\(s\): fanlx-b/);
    const removed = JSON.parse((await fanctlLxd(d, ['lxd', 'disable', '--force', '--json'])).stdout) as {
      outcome: string;
      detach: string[];
    };
    assert.deepEqual([removed.outcome, removed.detach], ['removed', ['fanlx-b']]);
    const profiles = JSON.parse((await lxc(d, ['profile', 'list', '--format', 'json'])).stdout) as { name: string }[];
    assert.deepEqual(
      profiles.map((p) => p.name),
      ['default'],
    );
    const nic = (await lxc(d, ['exec', 'fanlx-b', '--', 'ls', '/sys/class/net'])).stdout.split(/\s+/).filter(Boolean);
    assert.deepEqual(nic, ['lo'], 'the instance lost its fan NIC');
    const again = JSON.parse((await fanctlLxd(d, ['lxd', 'disable', '--json'])).stdout) as { outcome: string };
    assert.equal(again.outcome, 'absent');
  });
});

/**
 * Plain LXC (Debian's lxc 5.0) on a --dhcp fan: `lxc-create -t busybox` with the lines `fanctl lxc-config` prints,
 * `lxc-start`, and the container reaches a container on another lab host; once by DHCP (the DHCP share of the
 * slice), once with a static address from fan's IPAM (`--static NAME`, freed again with `--release NAME`).
 * Everything is named `fanlx…`; `after` stops every container by its monitor's pid and checks nothing is left.
 */
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { parseCidr, parseIpv4 } from '../../src/core/address/ipv4.js';
import { inRange, layoutOf } from '../../src/core/mapping/layout.js';
import { containerAddress, fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { DEFAULT_LAB, type LabHost, type LabTopology } from '../../src/lab/topology.js';
import { cgroupV1Mounts } from '../lab/private-ns.js';
import { LAB_LXC_ROOT, type LabLxc, lxcAddress, lxcAttach, startLxc, stopLxc } from '../lab/lxc.js';

const NAME = 'fanlxc';

async function leftovers(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((n) => /^\d+$/.test(n))) {
    const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
    if (cmd.includes(`${LAB_LXC_ROOT}/${NAME}`)) found.push(`process ${pid}: ${cmd}`);
  }
  for (const m of await cgroupV1Mounts()) {
    for (const entry of await readdir(m.mountPoint).catch(() => [] as string[]))
      if (entry.startsWith(`${NAME}-`) || entry.includes('fanlx-l')) found.push(`cgroup ${m.mountPoint}/${entry}`);
  }
  for (const entry of await readdir(LAB_LXC_ROOT).catch(() => [] as string[]))
    if (entry.startsWith(NAME)) found.push(`dir ${LAB_LXC_ROOT}/${entry}`);
  return found;
}

describe('LXC containers on a fan', { timeout: 300_000 }, () => {
  let topo: LabTopology;
  const containers: LabLxc[] = [];
  const host = (i: number): LabHost => {
    const h = topo.hosts[i];
    assert.ok(h);
    return h;
  };
  const layout = async (h: LabHost) => {
    const status = JSON.parse((await fanctl(h, ['show', '--json'])).stdout) as { fans: { slice: string }[] };
    return layoutOf({ slice: parseCidr(status.fans[0]?.slice ?? ''), hostReserve: 1, dhcp: true });
  };
  const peer = async (): Promise<string> => {
    const c = host(1).containers[0];
    assert.ok(c);
    return containerAddress(c);
  };

  before(async () => {
    await labDown(NAME);
    topo = await labUp({ ...DEFAULT_LAB, name: NAME, hosts: 2, containers: 1, dhcp: true });
  });

  after(async () => {
    const forced: string[] = [];
    for (const c of containers) forced.push(...(await stopLxc(c)));
    await labDown(NAME);
    assert.deepEqual(await leftovers(), [], 'every process, cgroup and directory the test created is gone');
    assert.deepEqual(forced, [], 'every container stopped cleanly');
  });

  it('lxc-config: veth on the fan bridge, up, fan MTU; DHCP from the DHCP share, reaches another host', async () => {
    const h1 = host(0);
    const lines = (await fanctl(h1, ['lxc-config'])).stdout;
    for (const l of [
      'lxc.net.0.type = veth',
      'lxc.net.0.link = fan-250',
      'lxc.net.0.flags = up',
      'lxc.net.0.mtu = 1450',
    ])
      assert.ok(lines.includes(`${l}\n`), l);
    assert.doesNotMatch(lines, /ipv4\.address/);
    const c = await startLxc(h1, 'fanlx-l1', lines);
    containers.push(c);
    const address = await lxcAddress(c);
    assert.ok(inRange((await layout(h1)).dhcp, parseIpv4(address)), `${address} is in the DHCP share`);
    assert.equal((await lxcAttach(c, ['cat', '/sys/class/net/eth0/mtu'])).stdout.trim(), '1450');
    const target = await peer();
    const ping = await lxcAttach(c, ['ping', '-c', '1', '-W', '3', target], { allowFailure: true });
    assert.equal(
      ping.exitCode,
      0,
      `the LXC container (${address}) reaches ${target} on h2: ${ping.stdout}${ping.stderr}`,
    );
  });

  it('--static NAME: an IPAM-share address (the same on every call), set by LXC; --release frees it', async () => {
    const h1 = host(0);
    const json = JSON.parse((await fanctl(h1, ['lxc-config', '--static', 'fanlx-l2', '--json'])).stdout) as {
      address: string;
      gateway: string;
      entries: [string, string][];
    };
    const again = JSON.parse((await fanctl(h1, ['lxc-config', '--static', 'fanlx-l2', '--json'])).stdout) as {
      address: string;
    };
    assert.equal(again.address, json.address);
    const address = json.address.split('/')[0] ?? '';
    const l = await layout(h1);
    assert.ok(
      l.ipam.some((r) => inRange(r, parseIpv4(address))),
      `${address} is in the IPAM share`,
    );
    assert.equal(json.gateway, '250.0.11.1');
    const lines = `${json.entries.map(([k, v]) => `${k} = ${v}`).join('\n')}\n`;
    // The template's init asks DHCP too, which would replace the static address: take it out.
    const c = await startLxc(h1, 'fanlx-l2', lines, async (rootfs) => {
      const rcs = await readFile(`${rootfs}/etc/init.d/rcS`, 'utf8');
      await writeFile(`${rootfs}/etc/init.d/rcS`, rcs.replace(/^\/bin\/udhcpc$/m, ''));
    });
    containers.push(c);
    assert.equal(await lxcAddress(c), address);
    const target = await peer();
    assert.equal(
      (await lxcAttach(c, ['ping', '-c', '1', '-W', '3', target], { allowFailure: true })).exitCode,
      0,
      `${address} reaches ${target}`,
    );
    const leases = JSON.parse(await readFile(`${h1.stateDir}/ipam/fan-250.json`, 'utf8')) as {
      leases: { address: string; owner: string }[];
    };
    assert.deepEqual(
      leases.leases.filter((x) => x.owner === 'lxc:fanlx-l2').map((x) => x.address),
      [address],
    );
    assert.match(
      (await fanctl(h1, ['lxc-config', '--release', 'fanlx-l2'])).stdout,
      new RegExp(`released ${address.replace(/\./g, '\\.')} of fanlx-l2`),
    );
    const after = JSON.parse(await readFile(`${h1.stateDir}/ipam/fan-250.json`, 'utf8')) as {
      leases: { owner: string }[];
    };
    assert.equal(after.leases.filter((x) => x.owner === 'lxc:fanlx-l2').length, 0);
  });
});

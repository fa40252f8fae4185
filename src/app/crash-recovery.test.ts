/**
 * What a run recognises and repairs after an earlier run was killed (docs/crash-recovery.md), on the fake host:
 * the state a kill -9 leaves at a given step is built by hand, then the next run must converge and `down` must
 * leave nothing.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { hostVethName } from '../core/attach/names.js';
import { parseFanWords } from '../core/config/fan-spec.js';
import { type FakeKernel, fakeFanHost } from '../testing/fake-kernel.js';
import { fakeHostDeps, fakeStateDir } from '../testing/host-deps.js';
import { type HostDeps, downFans, upFans } from './host.js';

let dir: string;
let elf: string;

beforeEach(async () => {
  ({ dir, elf } = await fakeStateDir('fan-crash-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

function depsOn(kernel: FakeKernel): HostDeps {
  return fakeHostDeps(kernel, { dir, elf });
}

const VXLAN = parseFanWords('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp'.split(' '));

describe('a run killed after dnsmasq started, before fan recorded it', () => {
  const crashed = async (): Promise<FakeKernel> => {
    const kernel = fakeFanHost();
    await upFans([VXLAN], 'cli', depsOn(kernel));
    kernel.files.delete(join(dir, 'fan-250.dnsmasq.json')); // the record is written right after dnsmasq starts
    assert.deepEqual([...kernel.processes.values()], ['dnsmasq']);
    return kernel;
  };

  it('up replaces the unrecorded dnsmasq: one daemon, recorded; a second up changes nothing', async () => {
    const kernel = await crashed();
    const deps = depsOn(kernel);
    const report = await upFans([VXLAN], 'cli', deps);
    assert.equal(report.changes.length, 2, report.changes.join('\n'));
    assert.match(report.changes[0] ?? '', /^stop dnsmasq on fan-250 \(pid \d+\)$/);
    assert.equal(report.changes[1], 'start dnsmasq on fan-250');
    assert.deepEqual([...kernel.processes.values()], ['dnsmasq']);
    assert.ok(kernel.files.has(join(dir, 'fan-250.dnsmasq.json')), 'the new daemon is recorded');
    assert.deepEqual((await upFans([VXLAN], 'cli', deps)).changes, []);
  });

  it('down stops the unrecorded dnsmasq and removes its pid file', async () => {
    const kernel = await crashed();
    await downFans({ select: { all: true }, force: false }, depsOn(kernel));
    assert.deepEqual([...kernel.processes.values()], []);
    assert.deepEqual(
      [...kernel.files.keys()].filter((f) => f.startsWith(dir)),
      [],
      'no dnsmasq pid file, record or lease file',
    );
  });
});

describe('a fan bridge deleted by hand, with containers on it', () => {
  const CNI_VETH = hostVethName('c1', 'eth0');
  const DOCKER_VETH = 'fan0badcafe';
  const leaseFile = (): string => join(dir, 'ipam', 'fan-250.json');

  /** A fan with a CNI and a Docker container (their veths and leases), then `ip link del fan-250`. */
  const cutOff = async (): Promise<{ kernel: FakeKernel; deps: HostDeps }> => {
    const kernel = fakeFanHost();
    const deps = depsOn(kernel);
    await upFans([VXLAN], 'cli', deps);
    kernel.addLink({ name: CNI_VETH, kind: 'veth', group: '250', alias: 'fan: cni net c1 eth0', master: 'fan-250' });
    kernel.addLink({ name: DOCKER_VETH, kind: 'veth', group: '250', alias: 'fan: docker n1 e1 250.3.4.3' });
    kernel.links.get(DOCKER_VETH)!.master = 'fan-250';
    await mkdir(join(dir, 'ipam'), { recursive: true });
    const since = new Date(0).toISOString();
    await writeFile(
      leaseFile(),
      JSON.stringify({
        version: 1,
        leases: [
          { address: '250.3.4.2', owner: 'cni:net:c1', ifname: 'eth0', since },
          { address: '250.3.4.3', owner: 'docker:fan-250:250.3.4.0/24:r1', ifname: 'docker', since },
        ],
      }),
    );
    await kernel.run(['ip', 'link', 'del', 'fan-250']);
    assert.equal(kernel.links.get(CNI_VETH)?.master, undefined, 'deleting the bridge leaves its ports on no bridge');
    return { kernel, deps };
  };

  it('up makes the bridge again and puts both veths back on it; a second up changes nothing', async () => {
    const { kernel, deps } = await cutOff();
    const report = await upFans([VXLAN], 'cli', deps);
    assert.ok(report.changes.includes('create bridge fan-250 (mtu 1450)'), report.changes.join('\n'));
    assert.ok(report.changes.includes(`put container veth ${CNI_VETH} back on fan-250`), report.changes.join('\n'));
    assert.ok(report.changes.includes(`put container veth ${DOCKER_VETH} back on fan-250`), report.changes.join('\n'));
    assert.equal(kernel.links.get(CNI_VETH)?.master, 'fan-250');
    assert.equal(kernel.links.get(DOCKER_VETH)?.master, 'fan-250');
    assert.deepEqual((await upFans([VXLAN], 'cli', deps)).changes, []);
  });

  it('the dnsmasq that outlived the bridge is started again on the new one, and down stops it', async () => {
    const { kernel, deps } = await cutOff();
    const report = await upFans([VXLAN], 'cli', deps);
    assert.ok(
      report.changes.some((c) => /^stop dnsmasq on fan-250/.test(c)),
      report.changes.join('\n'),
    );
    assert.ok(report.changes.includes('start dnsmasq on fan-250'), report.changes.join('\n'));
    assert.deepEqual([...kernel.processes.values()], ['dnsmasq']);
    await kernel.run(['ip', 'link', 'del', 'fan-250']);
    await downFans({ select: { all: true }, force: true }, deps);
    assert.deepEqual([...kernel.processes.values()], [], 'down found the dnsmasq of the deleted bridge');
    assert.deepEqual(
      [...kernel.files.keys()].filter((f) => f.startsWith(dir)),
      [],
    );
  });

  it('down refuses while they are cut off; down --force deletes them and forgets their leases', async () => {
    const { kernel, deps } = await cutOff();
    await assert.rejects(
      downFans({ select: { all: true }, force: false }, deps),
      new RegExp(`containers are still attached: .*${CNI_VETH} \\(of fan-250, on no bridge\\)`),
    );
    const report = await downFans({ select: { all: true }, force: true }, deps);
    assert.ok(report.changes.includes(`detach container veth ${CNI_VETH} from fan-250 (delete it)`));
    assert.equal(kernel.links.has(CNI_VETH), false);
    assert.equal(kernel.links.has(DOCKER_VETH), false);
    await assert.rejects(readFile(leaseFile()), /ENOENT/, 'the lease table is gone');
  });

  it('down --force with the bridge in place deletes the veths on it too', async () => {
    const kernel = fakeFanHost();
    const deps = depsOn(kernel);
    await upFans([VXLAN], 'cli', deps);
    kernel.addLink({ name: CNI_VETH, kind: 'veth', group: '250', alias: 'fan: cni net c1 eth0' });
    kernel.links.get(CNI_VETH)!.master = 'fan-250';
    kernel.addLink({ name: 'lxdveth0', kind: 'veth' }); // not fan's: left alone
    kernel.links.get('lxdveth0')!.master = 'fan-250';
    await downFans({ select: { all: true }, force: true }, deps);
    assert.equal(kernel.links.has(CNI_VETH), false);
    assert.equal(kernel.links.get('lxdveth0')?.master, undefined);
  });
});

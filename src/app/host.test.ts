import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { parseCidr } from '../core/address/ipv4.js';
import { parseFanWords } from '../core/config/fan-spec.js';
import { type FakeKernel, fakeFanHost } from '../testing/fake-kernel.js';
import { fakeHostDeps, fakeStateDir } from '../testing/host-deps.js';
import { type HostDeps, downFans, hostStatus, upFans } from './host.js';

let dir: string;
let elf: string;

beforeEach(async () => {
  ({ dir, elf } = await fakeStateDir('fan-app-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

function depsOn(kernel: FakeKernel): HostDeps {
  return fakeHostDeps(kernel, { dir, elf });
}

const spec = (line: string) => parseFanWords(line.split(' '));
const VXLAN = '-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp';
const HOSTGW = '-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw';
const fansFile = (): Promise<string | undefined> => readFile(join(dir, 'fans.json'), 'utf8').catch(() => undefined);

describe('upFans on a fake host', () => {
  it('builds bridge, tunnel, programs, route, firewall and dnsmasq', async () => {
    const kernel = fakeFanHost();
    const report = await upFans([spec(VXLAN)], 'cli', depsOn(kernel));
    assert.ok(report.changes.length > 10, report.changes.join('\n'));
    assert.equal(kernel.links.get('fan-250')?.group, '250');
    assert.match(kernel.links.get('fan-vxlan')?.alias ?? '', /^fan: /);
    assert.deepEqual(kernel.programs.map((p) => `${p.dev} ${p.direction} ${p.section}`).sort(), [
      'fan-vxlan egress tc/egress',
      'fan-vxlan ingress tc/ingress',
    ]);
    assert.ok(kernel.routes.some((r) => r.dev === 'fan-vxlan' && r.protocol === '250'));
    assert.match(kernel.nftTable ?? '', /masquerade/);
    assert.equal(kernel.iptables.length, 3);
    assert.deepEqual([...kernel.processes.values()], ['dnsmasq']);
    assert.equal(kernel.sysctls.get('net.ipv4.ip_forward'), '1');
  });

  it(`a second up on the converged host only reads, in at most 14 processes (2 for the port-binding \
table)`, async () => {
    const kernel = fakeFanHost();
    const deps = depsOn(kernel);
    await upFans([spec(VXLAN)], 'cli', deps);
    const calls = kernel.calls.length;
    const changes = kernel.changes;
    const file = await fansFile();
    const again = await upFans([spec(VXLAN)], 'cli', deps);
    assert.deepEqual(again.changes, []);
    assert.equal(kernel.changes, changes, 'no changing command');
    const spawned = kernel.calls.slice(calls).map((c) => c.argv.join(' '));
    assert.ok(spawned.length <= 14, `${spawned.length} processes:\n${spawned.join('\n')}`);
    assert.equal(await fansFile(), file, 'the fans file is not rewritten');
  });
});

/** Steps whose failure fan ignores on purpose (IPv6 may be compiled out). */
const bestEffort = (argv: readonly string[] | undefined): boolean =>
  argv?.some((a) => a.includes('disable_ipv6')) ?? false;

/** Changing calls of a clean run of `work` on a fresh host. */
async function changesOf(work: (kernel: FakeKernel) => Promise<unknown>): Promise<number> {
  const kernel = fakeFanHost();
  await work(kernel);
  await rm(join(dir, 'fans.json'), { force: true });
  return kernel.changes;
}

for (const [name, line] of [
  ['vxlan + dhcp', VXLAN],
  ['host-gw', HOSTGW],
] as const) {
  describe(`failure at every step (${name})`, () => {
    it('up: the host is left exactly as it was found, and no fan is recorded', async () => {
      const steps = await changesOf((k) => upFans([spec(line)], 'cli', depsOn(k)));
      assert.ok(steps >= 8, `${steps} steps`);
      for (let n = 1; n <= steps; n++) {
        const kernel = fakeFanHost();
        const before = kernel.snapshot();
        kernel.failAt = n;
        const outcome = await upFans([spec(line)], 'cli', depsOn(kernel)).then(
          () => 'up',
          (error: Error) => error.message,
        );
        if (bestEffort(kernel.failed)) {
          assert.equal(outcome, 'up', 'a best-effort step does not stop up');
          await rm(join(dir, 'fans.json'), { force: true });
          continue;
        }
        assert.match(
          outcome,
          // The port-binding table is loaded before any other change: its failure has nothing to roll back.
          new RegExp(
            /^step \d+ of \d+ failed [\s\S]*injected failure[\s\S]*rolled back the \d+ change/.source +
              '|' +
              /^nft refused fan's port-binding table \(exit 2\): injected failure/.source,
          ),
        );
        assert.deepEqual(kernel.snapshot(), before, `failure at change ${n} of ${steps}: ${kernel.failed?.join(' ')}`);
        assert.equal(await fansFile(), undefined);
      }
    });

    it('down: the fan stays up exactly as it was', async () => {
      const probe = fakeFanHost();
      await upFans([spec(line)], 'cli', depsOn(probe));
      const upChanges = probe.changes;
      await downFans({ select: { all: true }, force: false }, depsOn(probe));
      const steps = probe.changes - upChanges;
      assert.ok(steps >= 6, `${steps} steps`);
      for (let n = 1; n <= steps; n++) {
        await rm(join(dir, 'fans.json'), { force: true });
        const kernel = fakeFanHost();
        const deps = depsOn(kernel);
        await upFans([spec(line)], 'cli', deps);
        const before = kernel.snapshot();
        const file = await fansFile();
        kernel.failAt = kernel.changes + n;
        await assert.rejects(
          downFans({ select: { all: true }, force: false }, deps),
          /step \d+ of \d+ failed|^FanError: nft refused fan's port-binding table/,
        );
        assert.deepEqual(kernel.snapshot(), before, `failure at change ${n} of ${steps}: ${kernel.failed?.join(' ')}`);
        assert.equal(await fansFile(), file);
      }
    });
  });
}

describe('a fan whose underlay address vanished', () => {
  it('is still shown, and down -e removes everything fan made', async () => {
    const kernel = fakeFanHost();
    kernel.addLink({ name: 'eth1', mac: '02:00:0a:63:ee:05', addresses: [parseCidr('10.99.238.5/20')] });
    const pristine = kernel.snapshot();
    const deps = depsOn(kernel);
    await upFans([spec('-o 250.0.0.0/8 -u 172.16.0.0/16'), spec('-o 251.0.0.0/8 -u eth1/16 --dhcp')], 'cli', deps);
    const eth1 = kernel.links.get('eth1');
    assert.ok(eth1);
    eth1.addresses = []; // a DHCP renewal took it away
    const status = await hostStatus(deps);
    assert.deepEqual(
      status.fans.map((f) => `${f.bridge} ${f.slice} ${f.underlayDevice}`),
      ['fan-250 250.3.4.0/24 eth0', 'fan-251 251.238.5.0/24 eth1'],
    );
    // Another fan can still be brought up next to it.
    await upFans([spec('-o 252.0.0.0/8 -u 172.16.0.0/16')], 'cli', deps);
    await downFans({ select: { all: true }, force: false }, deps);
    eth1.addresses = [parseCidr('10.99.238.5/20')];
    const left = kernel.snapshot() as { sysctls: unknown };
    assert.deepEqual({ ...left, sysctls: [] }, { ...(pristine as object), sysctls: [] });
  });
});

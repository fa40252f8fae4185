/**
 * What a run recognises and repairs after an earlier run was killed (docs/crash-recovery.md), on the fake host:
 * the state a kill -9 leaves at a given step is built by hand, then the next run must converge and `down` must
 * leave nothing.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { parseFanWords } from '../core/config/fan-spec.js';
import { Dataplane } from '../kernel/dataplane.js';
import { IpHostReader } from '../kernel/host-reader.js';
import { type FakeKernel, fakeFanHost } from '../testing/fake-kernel.js';
import { type HostDeps, downFans, upFans } from './host.js';

let dir: string;
let elf: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fan-crash-'));
  elf = join(dir, 'fan.bpf.o');
  await writeFile(elf, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

function depsOn(kernel: FakeKernel): HostDeps {
  return {
    runner: kernel,
    host: new IpHostReader(kernel),
    files: kernel,
    dataplane: new Dataplane(kernel, { bpfObject: elf, stateDir: dir }, kernel),
    paths: { stateDir: dir, bpfObject: elf, packageRoot: '' },
    log: () => {},
  };
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

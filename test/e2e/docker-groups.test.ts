/**
 * Docker networks of a policy group with a real dockerd (Debian's docker.io 20.10) on one lab host: a network
 * created with `--ipam-opt fan.group=web` (and `-o fan.group=web`) gives its containers addresses of web's index
 * range; an unknown group, or any group while no policy is applied, fails `docker network create` with fan's
 * message. Everything is named `fnetdg…`; `after` stops every process it started by pid and removes the lab.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { parseCidr, parseIpv4 } from '../../src/core/address/ipv4.js';
import { type BackgroundProcess } from '../../src/kernel/exec.js';
import { fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { DEFAULT_LAB, type LabHost, type LabTopology } from '../../src/lab/topology.js';
import { buildBusyboxTarball } from '../lab/busybox.js';
import {
  LAB_IMAGE,
  type LabDockerd,
  docker,
  importImage,
  startDockerd,
  startFanPlugin,
  stopDockerd,
  stopProcess,
  sweepLabDocker,
} from '../lab/docker.js';

const NAME = 'fnetdg';
const POLICY = `default: isolate
groups:
  web: { index: 10-19 }
  db:  { index: 20-29 }
`;

async function sliceOf(h: LabHost): Promise<string> {
  const status = JSON.parse((await fanctl(h, ['show', '--json'])).stdout) as { fans: { slice: string }[] };
  const slice = status.fans[0]?.slice;
  assert.ok(slice);
  return slice;
}

async function eth0Of(d: LabDockerd, container: string): Promise<string> {
  const out = (await docker(d, ['exec', container, 'ip', '-4', '-o', 'addr', 'show', 'eth0'])).stdout;
  const m = /inet\s+(\S+)/.exec(out);
  assert.ok(m?.[1], `${container} has an IPv4 address: ${out}`);
  return m[1];
}

describe('Docker networks of a policy group (fan.group)', { timeout: 300_000 }, () => {
  let topo: LabTopology;
  let h: LabHost;
  let d: LabDockerd | undefined;
  let plugin: BackgroundProcess | undefined;
  let slice: string;
  let policyFile: string;

  before(async () => {
    await labDown(NAME);
    await sweepLabDocker(NAME);
    topo = await labUp({ ...DEFAULT_LAB, name: NAME, hosts: 1, containers: 0 });
    const first = topo.hosts[0];
    assert.ok(first);
    h = first;
    policyFile = `${topo.stateDir}/policy.yaml`;
    await writeFile(policyFile, POLICY);
    await fanctl(h, ['policy', 'apply', policyFile]);
    const tarball = await buildBusyboxTarball(topo.stateDir);
    d = await startDockerd(h);
    await importImage(d, tarball);
    plugin = await startFanPlugin(d);
    slice = await sliceOf(h);
  });

  after(async () => {
    if (d) await stopDockerd(d);
    if (plugin) await stopProcess(plugin);
    await labDown(NAME);
    assert.deepEqual(await sweepLabDocker(NAME), [], 'stopDockerd left nothing to sweep');
  });

  it("--ipam-opt fan.group=web: containers get addresses of web's index range", async () => {
    assert.ok(d);
    const create = ['network', 'create', '-d', 'fan', '--ipam-driver', 'fan', '--subnet', slice];
    await docker(d, [...create, '--ipam-opt', 'fan.group=web', '-o', 'fan.group=web', 'web']);
    await docker(d, [...create, '--ipam-opt', 'fan.group=db', 'db']);
    await docker(d, [...create, 'plain']);
    const base = parseCidr(slice).address;
    for (const [name, net, first, last] of [
      ['w1', 'web', 10, 19],
      ['w2', 'web', 10, 19],
      ['d1', 'db', 20, 29],
    ] as const) {
      await docker(d, ['run', '-d', '--name', name, '--network', net, LAB_IMAGE, 'sleep', '300']);
      const ip = await eth0Of(d, name);
      const index = parseIpv4(ip.split('/')[0] ?? '') - base;
      assert.ok(index >= first && index <= last, `${name} on ${net}: ${ip} (index ${index}) is in ${first}-${last}`);
      assert.ok(ip.endsWith('/24'), 'with the slice prefix');
    }
    // a network of no group: an address outside every group's range (else it would join one unasked)
    await docker(d, ['run', '-d', '--name', 'p1', '--network', 'plain', LAB_IMAGE, 'sleep', '300']);
    const plain = parseIpv4((await eth0Of(d, 'p1')).split('/')[0] ?? '') - base;
    assert.ok(plain < 10 || plain > 29, `the plain network's container is in no group (index ${plain})`);
    for (const name of ['w1', 'w2', 'd1', 'p1']) await docker(d, ['rm', '-f', name]);
    await docker(d, ['network', 'rm', 'web', 'db', 'plain']);
  });

  it('an unknown group fails network create, naming the groups there are', async () => {
    assert.ok(d);
    for (const flags of [
      ['--ipam-opt', 'fan.group=cache'],
      ['-o', 'fan.group=cache'],
    ]) {
      const out = await docker(
        d,
        ['network', 'create', '-d', 'fan', '--ipam-driver', 'fan', '--subnet', slice, ...flags, 'cache'],
        { allowFailure: true },
      );
      assert.notEqual(out.exitCode, 0, flags.join(' '));
      assert.match(out.stderr, /group "cache" is not in the applied policy.*web, db/s);
    }
  });

  it('no policy applied: a group network is refused, saying to apply one', async () => {
    assert.ok(d);
    await fanctl(h, ['policy', 'remove']);
    try {
      const out = await docker(
        d,
        [
          'network',
          'create',
          '-d',
          'fan',
          '--ipam-driver',
          'fan',
          '--subnet',
          slice,
          '--ipam-opt',
          'fan.group=web',
          'w',
        ],
        { allowFailure: true },
      );
      assert.notEqual(out.exitCode, 0);
      assert.match(out.stderr, /no policy is applied on this host/);
    } finally {
      await fanctl(h, ['policy', 'apply', policyFile]);
    }
  });
});

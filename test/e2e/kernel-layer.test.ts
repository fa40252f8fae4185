/**
 * The kernel layer on a real kernel: a fan whose underlay address vanished is still shown and is taken down
 * completely; a converged `up` changes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { formatIpv4 } from '../../src/core/address/ipv4.js';
import { fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { DEFAULT_LAB, type LabTopology } from '../../src/lab/topology.js';
import { fanObjects, inNs } from './helpers.js';

describe('a fan whose underlay address vanished', { timeout: 120_000 }, () => {
  const NAME = 'fane2evan';
  let topo: LabTopology;
  before(async () => {
    await labDown(NAME);
    topo = await labUp({ ...DEFAULT_LAB, name: NAME, hosts: 1, containers: 0 });
  });
  after(async () => {
    await labDown(NAME);
  });

  it('is still listed by show, other fans come up beside it, and down -e leaves no fan object', async () => {
    const host = topo.hosts[0];
    assert.ok(host);
    // A second underlay address on eth0 carries a second fan, with DHCP; then the address goes (a DHCP renewal).
    await inNs(host.ns, ['ip', 'address', 'add', '10.77.0.5/24', 'dev', 'eth0']);
    await fanctl(host, ['up', '-o', '251.0.0.0/8', '-u', '10.77.0.0/24', '--dhcp']);
    await inNs(host.ns, ['ip', 'address', 'del', '10.77.0.5/24', 'dev', 'eth0']);
    const show = JSON.parse((await fanctl(host, ['show', '--json'])).stdout) as {
      fans: { bridge: string; slice: string }[];
    };
    const [, , c, d] = formatIpv4(host.underlay.address).split('.');
    assert.deepEqual(show.fans.map((f) => `${f.bridge} ${f.slice}`).sort(), [
      `fan-250 250.${c}.${d}.0/24`,
      'fan-251 251.5.0.0/16',
    ]);
    const again = await fanctl(host, ['up', '-o', '250.0.0.0/8', '-u', '172.16.0.0/16']);
    assert.match(again.stdout, /no changes/);
    await fanctl(host, ['up', '-o', '252.0.0.0/8', '-u', '172.16.0.0/16']);
    const down = await fanctl(host, ['down', '-e'], { allowFailure: true });
    assert.equal(down.exitCode, 0, down.stderr);
    assert.deepEqual(await fanObjects(host.ns), { links: [], routes: 0, nft: false, dnsmasq: 0, forwardRules: 0 });
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIpv4 } from '../address/ipv4.js';
import { hostVethName } from '../attach/names.js';
import type { LinkState } from '../model/host-state.js';
import { diffPorts, vethHomes } from './ports.js';

const link = (name: string, extra: Partial<LinkState> = {}): LinkState => ({
  name,
  mtu: 1450,
  up: true,
  addresses: [],
  kind: 'veth',
  ...extra,
});
const lease = (address: string, owner: string, ifname: string) => ({
  address: parseIpv4(address),
  owner,
  ifname,
  since: '1970-01-01T00:00:00.000Z',
});

const CNI = hostVethName('c1', 'eth0');
const UNLABELLED = hostVethName('c2', 'eth0');
const tables = [
  {
    bridge: 'fan-250',
    leases: [
      lease('250.3.4.2', 'cni:net:c1', 'eth0'),
      lease('250.3.4.4', 'cni:net:c2', 'eth0'),
      lease('250.3.4.3', 'docker:fan-250:250.3.4.0/24:r1', 'docker'),
    ],
  },
];
const links = [
  link(CNI, { group: '250', alias: 'fan: cni net c1 eth0' }),
  link(UNLABELLED, { group: '250' }),
  link('fan0badcafe', { group: '250', alias: 'fan: docker n1 e1 250.3.4.3' }),
  link('fan12345678', { group: '250', alias: 'fan: cni net gone eth0' }), // no lease: nowhere to go
  link('fanabcdef01', { alias: 'someone else' }), // not fan's
  link('veth0', { master: 'fan-250' }), // not fan's, on the bridge
  link('fan-250', { kind: 'bridge', group: '250', alias: 'fan: bridge' }),
];

describe('vethHomes', () => {
  it("finds each fan veth's bridge: its master, or the lease table holding it (CNI by name, Docker by address)", () => {
    assert.deepEqual(
      vethHomes(links, tables).map((h) => `${h.dev} ${h.bridge} ${h.attached}`),
      [`${CNI} fan-250 false`, `${UNLABELLED} fan-250 false`, 'fan0badcafe fan-250 false'],
    );
    const onBridge = [link(CNI, { alias: 'fan: cni net c1 eth0', master: 'fan-9' })];
    assert.deepEqual(vethHomes(onBridge, tables), [{ dev: CNI, bridge: 'fan-9', attached: true }]);
  });
});

describe('diffPorts', () => {
  const homes = vethHomes(links, tables);
  it('puts veths on no bridge back on their bridge when it is wanted', () => {
    assert.deepEqual(
      diffPorts({ links }, { bridges: [{ name: 'fan-250', mtu: 1450, mac: '', addresses: [], alias: '' }] }, homes),
      [CNI, UNLABELLED, 'fan0badcafe'].map((dev) => ({ kind: 'port-attach', dev, bridge: 'fan-250' })),
    );
  });
  it('leaves them alone when the bridge is not wanted, and deletes them when it leaves with --force', () => {
    assert.deepEqual(diffPorts({ links }, { bridges: [] }, homes), []);
    assert.deepEqual(
      diffPorts({ links }, { bridges: [] }, homes, new Set(['fan-250'])).map((o) => o.kind),
      ['port-del', 'port-del', 'port-del'],
    );
  });
});

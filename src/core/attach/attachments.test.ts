import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDnsmasqLeases } from '../../codec/dnsmasq-leases.js';
import { parseIpv4 } from '../address/ipv4.js';
import { iface } from '../../testing/builders.js';
import { bridgeAttachments, describeOwner, parseCniOwner } from './attachments.js';
import { cniAlias, dockerAlias, hostVethName } from './names.js';

const lease = (address: string, owner: string, ifname = 'eth0', extra = {}) => ({
  address: parseIpv4(address),
  owner,
  ifname,
  since: '2026-01-01T00:00:00.000Z',
  ...extra,
});
const port = (name: string, alias: string, master = 'fan-250') => iface(name, [], { master, alias, kind: 'veth' });

describe('attachments of a fan bridge', () => {
  it('joins CNI leases with their host veths and names the Kubernetes pod', () => {
    const pod = { namespace: 'shop', name: 'web-0', uid: 'u1' };
    const veth = hostVethName('sb1', 'eth0');
    const rows = bridgeAttachments({
      bridge: 'fan-250',
      leases: [lease('250.3.4.9', 'cni:fan-250:sb2'), lease('250.3.4.2', 'cni:fan-250:sb1', 'eth0', { pod })],
      interfaces: [
        port(veth, cniAlias({ network: 'fan-250', containerId: 'sb1', ifname: 'eth0' })),
        port('other0', 'x', 'br0'),
      ],
      dhcpLeases: [],
    });
    assert.deepEqual(
      rows.map((r) => [r.address, r.runtime, r.hostIf, r.containerId, r.problems.length]),
      [
        ['250.3.4.2', 'cni', veth, 'sb1', 0],
        ['250.3.4.9', 'cni', hostVethName('sb2', 'eth0'), 'sb2', 1],
      ],
    );
    assert.deepEqual(rows[0]?.pod, pod);
    assert.equal(describeOwner(rows[0] ?? { bridge: '', runtime: 'cni', problems: [] }), 'k8s shop/web-0');
    assert.match(rows[1]?.problems[0] ?? '', /stale lease/);
  });

  it('lists veths without a lease, Docker endpoints and DHCP clients; ignores other bridges', () => {
    const rows = bridgeAttachments({
      bridge: 'fan-250',
      leases: [lease('250.3.4.5', 'docker:fan-250:250.3.4.0/24:r1', 'docker')],
      interfaces: [
        port('fanaaaaaaaa', cniAlias({ network: 'fan-250', containerId: 'gone', ifname: 'eth0' })),
        port('fanbbbbbbbb', dockerAlias({ networkId: 'n1', endpointId: 'e1' })),
        port('fancccccccc', cniAlias({ network: 'x', containerId: 'y', ifname: 'eth0' }), 'fan-251'),
        port('vethlxd', ''),
      ],
      dhcpLeases: parseDnsmasqLeases(
        '1767225600 AA:BB:CC:00:00:01 250.3.4.200 lxd1 *\n0 aa:bb:cc:00:00:02 250.3.4.201 * 01:aa\n',
      ),
    });
    assert.deepEqual(
      rows.map((r) => [r.runtime, r.address ?? r.hostIf]),
      [
        ['docker', '250.3.4.5'],
        ['dhcp', '250.3.4.200'],
        ['dhcp', '250.3.4.201'],
        ['cni', 'fanaaaaaaaa'],
        ['docker', 'fanbbbbbbbb'],
      ],
    );
    assert.match(rows[3]?.problems[0] ?? '', /no lease for container gone/);
    assert.equal(rows[1]?.hostname, 'lxd1');
    assert.equal(rows[1]?.mac, 'aa:bb:cc:00:00:01');
    assert.equal(describeOwner(rows[2] ?? { bridge: '', runtime: 'dhcp', problems: [] }), 'aa:bb:cc:00:00:02');
  });

  it('parses CNI owners and dnsmasq lease lines', () => {
    assert.deepEqual(parseCniOwner('cni:fan-250:abc:def'), { network: 'fan-250', containerId: 'abc:def' });
    assert.equal(parseCniOwner('docker:x:y'), undefined);
    assert.deepEqual(parseDnsmasqLeases('duid 00:01\ngarbage\n1 m 250.1.2.3 h c\n'), [
      { expiry: 1, mac: 'm', address: '250.1.2.3', hostname: 'h', clientId: 'c' },
    ]);
  });
});

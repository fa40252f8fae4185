import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIpv4 } from '../address/ipv4.js';
import { parseFanWords } from '../config/fan-spec.js';
import { resolveFans } from '../config/resolve.js';
import { assertConfigError, iface, route, typicalHost } from '../../testing/builders.js';
import type { TraceFacts } from './path.js';
import { lookupRoute, tracePath } from './path.js';
import { parseProto } from './proto.js';

// eth0 172.16.3.4/16: slice 250.3.4.0/24 of 250.0.0.0/8 and 251.3.4.0/24 of 251.0.0.0/8 (MTU 9000 → fan 8950).
const host = typicalHost();
const fans = resolveFans(
  [
    parseFanWords(['-o', '250.0.0.0/8', '-u', '172.16.0.0/16']),
    parseFanWords(['-o', '251.0.0.0/8', '-u', '172.16.0.0/16']),
  ],
  host,
);
const hostGwFans = resolveFans(
  [parseFanWords(['-o', '250.0.0.0/8', '-u', '172.16.0.0/16', '--type', 'host-gw'])],
  host,
);
const ip = parseIpv4;
const facts = (extra: Partial<TraceFacts> = {}): TraceFacts => ({
  fans,
  routes: host.routes,
  interfaces: [
    ...host.interfaces,
    iface('fan-250', ['250.3.4.1/24'], { mtu: 8950 }),
    iface('fan-251', ['251.3.4.1/24'], { mtu: 8950 }),
    iface('fan-vxlan', [], { mtu: 8950 }),
  ],
  endpoints: [
    { address: ip('250.3.4.2'), bridge: 'fan-250', hostIf: 'veth1', mtu: 8950, netns: 'c1', ifname: 'eth0' },
    { address: ip('250.3.4.3'), bridge: 'fan-250', hostIf: 'veth2', mtu: 8950, netns: 'c2', ifname: 'eth0' },
    { address: ip('251.3.4.2'), bridge: 'fan-251', hostIf: 'veth3', mtu: 8950, netns: 'c3', ifname: 'eth0' },
  ],
  unresolvedPorts: 0,
  ...extra,
});
const icmp = parseProto(undefined);
const trace = (src: string, dst: string, f: TraceFacts = facts()) =>
  tracePath(f, { src: ip(src), dst: ip(dst), proto: icmp });

describe('tracePath', () => {
  it('same host, same slice: bridged, delivered, no counter', () => {
    const t = trace('250.3.4.2', '250.3.4.3');
    assert.equal(t.kind, 'same-host');
    assert.equal(t.outcome, 'delivered');
    assert.equal(t.crossOverlay, false);
    assert.deepEqual(t.expect, { ebpfTx: false, masquerade: false });
    assert.match(t.hops.at(-1)?.at ?? '', /container 250\.3\.4\.3 \(eth0 in c2, host end veth2\)/);
    assert.equal(t.pathMtu, 8950);
  });

  it('same host, another overlay: routed between the bridges', () => {
    const t = trace('250.3.4.2', '251.3.4.2');
    assert.equal(t.kind, 'same-host');
    assert.equal(t.crossOverlay, true);
    assert.ok(t.hops.some((h) => h.at === 'bridge fan-251'));
  });

  it('same host, an address no container has: dropped at the bridge, nobody answers ARP', () => {
    const t = trace('250.3.4.2', '250.3.4.77');
    assert.equal(t.outcome, 'dropped');
    assert.equal(t.stop?.kind, 'bridge-arp');
    assert.equal(t.stop?.at, 'fan-250');
  });

  it('same host with ports it could not inspect: unverified, not dropped', () => {
    assert.equal(trace('250.3.4.2', '250.3.4.77', facts({ unresolvedPorts: 1 })).outcome, 'unverified');
  });

  it('cross host over vxlan: the computed underlay host, VNI, port, and the remote bridge', () => {
    const t = trace('250.3.4.2', '250.3.5.9', facts({ underlayAnswers: new Map([[ip('172.16.3.5'), true]]) }));
    assert.equal(t.kind, 'cross-host');
    assert.equal(t.dataplane, 'vxlan');
    assert.equal(t.underlayHost, '172.16.3.5');
    assert.equal(t.outcome, 'delivered');
    assert.deepEqual(t.expect, { ebpfTx: true, masquerade: false });
    assert.ok(t.hops.some((h) => /VNI 16384000/.test(h.action)));
    assert.ok(t.hops.some((h) => h.action === 'UDP 172.16.3.4 → 172.16.3.5:8472' && h.mtu === 9000));
    assert.ok(t.hops.some((h) => h.host === 'remote host' && /bridge fan-250 \(slice 250\.3\.5\.0\/24\)/.test(h.at)));
    assert.equal(t.hops.at(-1)?.policy, 'open');
  });

  it('cross host to an absent host: dropped at the underlay ARP, after the eBPF program counted it', () => {
    const t = trace('250.3.4.2', '250.99.1.7', facts({ underlayAnswers: new Map([[ip('172.16.99.1'), false]]) }));
    assert.equal(t.outcome, 'dropped');
    assert.deepEqual(t.stop, {
      kind: 'underlay-arp',
      at: 'eth0',
      reason: 'no host answers ARP for 172.16.99.1 on eth0',
    });
    assert.equal(t.expect.ebpfTx, true);
  });

  it('cross host, cross overlay', () => {
    const t = trace('250.3.4.2', '251.3.5.9');
    assert.equal(t.crossOverlay, true);
    assert.equal(t.underlayHost, '172.16.3.5');
    assert.equal(t.outcome, 'unverified');
  });

  it('an overlay address that maps to the underlay network address: no host can own it', () => {
    const t = trace('250.3.4.2', '250.0.0.9');
    assert.equal(t.stop?.kind, 'invalid-host');
  });

  it('host-gw: no tunnel, the eBPF program on the underlay device', () => {
    const t = trace(
      '250.3.4.2',
      '250.3.5.9',
      facts({ fans: hostGwFans, underlayAnswers: new Map([[ip('172.16.3.5'), true]]) }),
    );
    assert.equal(t.dataplane, 'host-gw');
    assert.ok(t.hops.some((h) => h.at === 'eBPF fan_hostgw on eth0' && h.mtu === 9000));
    assert.ok(!t.hops.some((h) => /fan-vxlan/.test(h.at)));
  });

  it('outside: the host route, masqueraded behind the device address', () => {
    const t = trace('250.3.4.2', '8.8.8.8');
    assert.equal(t.kind, 'outside');
    assert.deepEqual(t.expect, { ebpfTx: false, masquerade: true });
    assert.match(t.hops.find((h) => /masquerade/.test(h.action))?.action ?? '', /becomes 172\.16\.3\.4/);
    assert.match(t.hops.find((h) => /masquerade/.test(h.action))?.at ?? '', /route default via 172\.16\.0\.1 dev eth0/);
  });

  it('outside without a route: dropped on this host', () => {
    const t = trace('250.3.4.2', '8.8.8.8', facts({ routes: [route('172.16.0.0/16', 'eth0')] }));
    assert.equal(t.stop?.kind, 'no-route');
  });

  it("from the host's bridge address", () => {
    const t = trace('250.3.4.1', '250.3.5.1');
    assert.match(t.hops[0]?.at ?? '', /host address 250\.3\.4\.1/);
    assert.equal(t.kind, 'cross-host');
  });

  it("to this host's own address", () => assert.equal(trace('250.3.4.2', '172.16.3.4').kind, 'to-host'));

  it('asks the policy function at both ends, and stops where it denies', () => {
    const asked: string[] = [];
    const t = tracePath(facts({ underlayAnswers: new Map([[ip('172.16.3.5'), true]]) }), {
      src: ip('250.3.4.2'),
      dst: ip('250.3.5.9'),
      proto: parseProto('tcp/80'),
      policy: (q) => {
        asked.push(q.at);
        return q.at === 'ingress' ? { verdict: 'deny', rule: 'no-web' } : { verdict: 'allow' };
      },
    });
    assert.deepEqual(asked, ['egress', 'ingress']);
    assert.equal(t.outcome, 'dropped');
    assert.equal(t.stop?.kind, 'policy');
    assert.equal(t.proto, 'tcp/80');
  });

  it('refuses a source of another host, naming that host', () => {
    assertConfigError(
      () => trace('250.3.5.2', '250.3.4.2'),
      '250.3.5.2 is not on this host: it is in the slice of 172.16.3.5',
      'run fanctl trace on 172.16.3.5',
    );
    assertConfigError(() => trace('10.0.0.1', '250.3.4.2'), /in no overlay/);
  });
});

describe('lookupRoute', () => {
  it("takes the longest prefix and ignores fan's own routes", () => {
    const routes = [
      route('default', 'eth0'),
      route('203.0.113.0/24', 'eth1'),
      route('203.0.113.0/25', 'eth2', { protocol: '250' }),
    ];
    assert.equal(lookupRoute(routes, ip('203.0.113.7'))?.dev, 'eth1');
    assert.equal(lookupRoute(routes, ip('9.9.9.9'))?.dev, 'eth0');
  });
});

describe('parseProto', () => {
  it('reads icmp, tcp/PORT, udp/PORT', () => {
    assert.deepEqual(parseProto('tcp/443'), { name: 'tcp', port: 443 });
    assert.deepEqual(parseProto('UDP/53'), { name: 'udp', port: 53 });
    assert.deepEqual(parseProto('icmp'), { name: 'icmp' });
  });
  it('refuses anything else', () => {
    assertConfigError(() => parseProto('sctp/1'), /not icmp/);
    assertConfigError(() => parseProto('tcp/70000'), /not icmp/);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCidr, formatIpv4 } from '../address/ipv4.js';
import { defaultRouteDevice, findInterface } from '../model/host-facts.js';
import { assertConfigError, cidrOf, hostFacts, iface, route, typicalHost } from '../../testing/builders.js';
import { type FanSpec, parseFanWords } from './fan-spec.js';
import { resolveFans, resolveUnderlay, resolveUnderlayOffline } from './resolve.js';

const spec = (line: string): FanSpec => parseFanWords(line.split(' '));
const ALL_ADDRESSES = 'lo 127.0.0.1/8; eth0 172.16.3.4/16,172.16.9.9/16; eth1 10.99.238.5/20; docker0 172.17.0.1/16';

/** resolveUnderlay as readable text: `underlay host device mtu`. */
function resolved(line: string, facts = typicalHost()): string {
  const r = resolveUnderlay(spec(line), facts);
  return `${formatCidr(r.underlay)} ${formatIpv4(r.host)} ${r.device} ${r.deviceMtu}`;
}

describe('host facts helpers', () => {
  it('defaultRouteDevice uses the main table only', () => {
    assert.equal(defaultRouteDevice(typicalHost()), 'eth0');
    assert.equal(defaultRouteDevice(hostFacts([], [route('default', 'eth1', { table: '100' })])), undefined);
    assert.equal(defaultRouteDevice(hostFacts([], [route('default', 'eth1', { table: 'main' })])), 'eth1');
    assert.equal(defaultRouteDevice(hostFacts([], [route('10.0.0.0/8', 'eth1')])), undefined);
  });

  it('findInterface by exact name', () => {
    assert.equal(findInterface(typicalHost(), 'eth1')?.name, 'eth1');
    assert.equal(findInterface(typicalHost(), 'eth'), undefined);
  });
});

describe('resolveUnderlay', () => {
  it("NETWORK/LEN finds this host's first address inside it", () => {
    assert.equal(resolved('250 172.16.0.0/16'), '172.16.0.0/16 172.16.3.4 eth0 9000');
    assert.equal(resolved('250 10.99.0.0/16'), '10.99.0.0/16 10.99.238.5 eth1 1500');
    assert.equal(resolved('250 172.16.0.0/12'), '172.16.0.0/12 172.16.3.4 eth0 9000');
  });

  it('ADDRESS/LEN must be an address of this host (any of its addresses)', () => {
    assert.equal(resolved('250 172.16.3.4/16'), '172.16.0.0/16 172.16.3.4 eth0 9000');
    assert.equal(resolved('250 172.16.9.9/16'), '172.16.0.0/16 172.16.9.9 eth0 9000');
    assert.equal(resolved('250 10.99.238.5/16'), '10.99.0.0/16 10.99.238.5 eth1 1500', 'the written length wins');
    assertConfigError(
      () => resolved('250 172.16.3.5/16'),
      '172.16.3.5 (underlay "172.16.3.5/16") is not an address of this host',
      `use one of this host's addresses (${ALL_ADDRESSES}) or the underlay network, e.g. 172.16.0.0/16`,
    );
  });

  it("IFACE/LEN uses the interface's first address with the written length", () => {
    assert.equal(resolved('250 eth1/16'), '10.99.0.0/16 10.99.238.5 eth1 1500');
    assert.equal(resolved('250 eth0/24'), '172.16.3.0/24 172.16.3.4 eth0 9000');
  });

  it("IFACE without a length uses the interface address's own prefix", () => {
    assert.equal(resolved('250 eth1'), '10.99.224.0/20 10.99.238.5 eth1 1500');
    assert.equal(resolved('250 eth0'), '172.16.0.0/16 172.16.3.4 eth0 9000');
  });

  it('default/LEN and default use the interface of the default route', () => {
    assert.equal(resolved('250 default/16'), '172.16.0.0/16 172.16.3.4 eth0 9000');
    assert.equal(resolved('250 default/12'), '172.16.0.0/12 172.16.3.4 eth0 9000');
    assert.equal(resolved('250 default'), '172.16.0.0/16 172.16.3.4 eth0 9000');
    const viaEth1 = hostFacts(typicalHost().interfaces, [route('default', 'eth1')]);
    assert.equal(resolved('250 default', viaEth1), '10.99.224.0/20 10.99.238.5 eth1 1500');
  });

  it('refuses default/LEN without a default route', () => {
    const facts = hostFacts(typicalHost().interfaces, [
      route('172.16.0.0/16', 'eth0'),
      route('default', 'eth1', { table: '100' }),
    ]);
    assertConfigError(
      () => resolved('250 default/16', facts),
      'underlay "default/16" names the default route, but this host has none',
      'name the interface instead, e.g. -u eth0/16',
    );
  });

  it('refuses a missing interface, listing the interfaces that have addresses', () => {
    assertConfigError(
      () => resolved('250 eth9/16'),
      'interface eth9 (underlay "eth9/16") does not exist',
      `interfaces with addresses: ${ALL_ADDRESSES}`,
    );
    const facts = hostFacts(typicalHost().interfaces, [route('default', 'wg0')]);
    assertConfigError(() => resolved('250 default', facts), 'interface wg0 (underlay "default") does not exist');
  });

  it('refuses an interface without an IPv4 address', () => {
    assertConfigError(
      () => resolved('250 ifb0/16'),
      'interface ifb0 (from underlay "ifb0/16") has no IPv4 address',
      'add an address to ifb0 or name another underlay',
    );
  });

  it("refuses a network that holds none of this host's addresses", () => {
    assertConfigError(
      () => resolved('250 10.200.0.0/16'),
      'this host has no address inside underlay 10.200.0.0/16',
      `addresses found: ${ALL_ADDRESSES}; name the underlay this host is on`,
    );
    assertConfigError(
      () => resolved('250 10.200.0.0/16', hostFacts([iface('lo')])),
      /no address inside/,
      'addresses found: none; name the underlay this host is on',
    );
  });
});

describe('resolveUnderlayOffline', () => {
  it('resolves ADDRESS/LEN without host facts', () => {
    assert.deepEqual(resolveUnderlayOffline(spec('250 172.16.3.4/16')), {
      underlay: cidrOf('172.16.0.0/16'),
      host: cidrOf('172.16.3.4/32').address,
    });
  });

  for (const line of ['250 172.16.0.0/16', '250 eth0/16', '250 default/16']) {
    it(`refuses "${line}", which needs the host`, () => {
      const text = line.split(' ')[1];
      assertConfigError(
        () => resolveUnderlayOffline(spec(line)),
        `underlay "${text}" does not name a host address`,
        "give this host's underlay address with its prefix, e.g. -u 172.16.3.4/16",
      );
    });
  }
});

describe('resolveFans', () => {
  it('resolves a fan with its slice, device, MTU, derived bridge and options', () => {
    const [fan, ...rest] = resolveFans([spec('250.0.0.0/8 eth0/16 dhcp host-reserve 3')], typicalHost());
    assert.equal(rest.length, 0);
    assert.ok(fan);
    assert.equal(formatCidr(fan.map.overlay), '250.0.0.0/8');
    assert.equal(formatCidr(fan.map.underlay), '172.16.0.0/16');
    assert.equal(formatCidr(fan.host.slice), '250.3.4.0/24');
    assert.equal(formatIpv4(fan.host.host), '172.16.3.4');
    assert.equal(fan.device, 'eth0');
    assert.equal(fan.deviceMtu, 9000);
    assert.equal(fan.bridge, 'fan-250');
    assert.equal(fan.hostReserve, 3);
    assert.equal(fan.dhcp, true);
    assert.equal(fan.type, 'vxlan');
    assert.equal(fan.host.vni, 16384000);
  });

  it('resolves several disjoint fans in order, with --bridge overriding the name', () => {
    const fans = resolveFans(
      [spec('250.0.0.0/8 eth0/16'), spec('240.0.0.0/8 eth1 bridge fanE type host-gw')],
      typicalHost(),
    );
    assert.deepEqual(
      fans.map((f) => [f.bridge, formatCidr(f.host.slice), f.device, f.type]),
      [
        ['fan-250', '250.3.4.0/24', 'eth0', 'vxlan'],
        ['fanE', '240.224.80.0/20', 'eth1', 'host-gw'],
      ],
    );
    assert.deepEqual(resolveFans([], typicalHost()), []);
  });

  it('refuses two fans whose overlays overlap', () => {
    assertConfigError(
      () => resolveFans([spec('250.0.0.0/8 eth0/16'), spec('250.1.0.0/16 eth1')], typicalHost()),
      'overlay 250.0.0.0/8 overlaps overlay 250.1.0.0/16',
      'give each fan on a host its own, disjoint overlay',
    );
  });

  it('refuses two fans on one bridge', () => {
    assertConfigError(
      () =>
        resolveFans([spec('250.0.0.0/8 eth0/16 bridge fanbr'), spec('240.0.0.0/8 eth1 bridge fanbr')], typicalHost()),
      'two fans use bridge fanbr',
      'give one of them --bridge NAME',
    );
  });

  it('accepts a host-reserve that leaves one container address, refuses one more', () => {
    assert.equal(resolveFans([spec('250.0.0.0/8 eth0/16 host-reserve 253')], typicalHost())[0]?.hostReserve, 253);
    assertConfigError(
      () => resolveFans([spec('250.0.0.0/8 eth0/16 host-reserve 254')], typicalHost()),
      'host-reserve 254 leaves no container addresses in slice 250.3.4.0/24 (256 addresses)',
      'use a host-reserve of at most 253, or a wider slice (a shorter overlay prefix or a longer underlay prefix)',
    );
  });

  it('refuses a host-reserve too big for a tiny slice', () => {
    // 250.0.0.0/14 over /16: 4 addresses per host (network, gateway, one container, broadcast)
    assert.equal(resolveFans([spec('250.0.0.0/14 eth0/16')], typicalHost())[0]?.host.size, 4);
    assertConfigError(
      () => resolveFans([spec('250.0.0.0/14 eth0/16 host-reserve 2')], typicalHost()),
      'host-reserve 2 leaves no container addresses in slice 250.0.12.16/30 (4 addresses)',
      'use a host-reserve of at most 1, or a wider slice (a shorter overlay prefix or a longer underlay prefix)',
    );
    // /15 over /16: 2 addresses per host, no room at all
    assertConfigError(
      () => resolveFans([spec('250.0.0.0/15 eth0/16')], typicalHost()),
      'host-reserve 1 leaves no container addresses in slice 250.0.6.8/31 (2 addresses)',
      'use a wider slice (a shorter overlay prefix or a longer underlay prefix)',
    );
  });

  it('refuses an overlay that overlaps a route the host already uses', () => {
    const hint = 'pick an overlay this host does not route, e.g. in 240.0.0.0/4';
    assertConfigError(
      () => resolveFans([spec('250.0.0.0/8 eth0/16')], typicalHost([route('250.5.0.0/16', 'eth1')])),
      'overlay 250.0.0.0/8 overlaps route 250.5.0.0/16 on eth1 already used by this host',
      hint,
    );
    assertConfigError(
      () => resolveFans([spec('250.0.0.0/8 eth0/16')], typicalHost([route('240.0.0.0/4', 'tun0')])),
      'overlay 250.0.0.0/8 overlaps route 240.0.0.0/4 on tun0 already used by this host',
      hint,
    );
    assertConfigError(
      () => resolveFans([spec('250.0.0.0/8 eth0/16')], typicalHost([route('250.1.2.3', 'eth0')])),
      'overlay 250.0.0.0/8 overlaps route 250.1.2.3/32 on eth0 already used by this host',
    );
    assertConfigError(
      () => resolveFans([spec('250.0.0.0/8 eth0/16')], typicalHost([route('250.0.0.0/8')])),
      'overlay 250.0.0.0/8 overlaps route 250.0.0.0/8 already used by this host',
    );
  });

  it('ignores routes on devices fan owns, and the default route', () => {
    const facts = typicalHost([route('250.0.0.0/8', 'fan-250'), route('250.3.4.0/24', 'fan-250')]);
    assertConfigError(
      () => resolveFans([spec('250.0.0.0/8 eth0/16')], facts),
      /overlaps route 250\.0\.0\.0\/8 on fan-250/,
    );
    assert.equal(resolveFans([spec('250.0.0.0/8 eth0/16')], facts, new Set(['fan-250']))[0]?.bridge, 'fan-250');
    // typicalHost has a default route (0.0.0.0/0), which contains every overlay
    assert.equal(resolveFans([spec('250.0.0.0/8 eth0/16')], typicalHost()).length, 1);
  });

  it('accepts routes next to the overlay', () => {
    assert.equal(
      resolveFans(
        [spec('250.0.0.0/8 eth0/16')],
        typicalHost([route('251.0.0.0/8', 'eth1'), route('249.255.255.255', 'eth1')]),
      ).length,
      1,
    );
  });

  it('checks the mapping once the underlay is known', () => {
    assertConfigError(
      () => resolveFans([spec('172.0.0.0/8 eth0/16')], typicalHost()),
      'overlay 172.0.0.0/8 overlaps underlay 172.16.0.0/16',
    );
    assertConfigError(
      () => resolveFans([spec('127.0.0.0/8 eth0/16')], typicalHost()),
      'overlay 127.0.0.0/8 overlaps loopback (127.0.0.0/8)',
    );
    assertConfigError(
      () => resolveFans([spec('250.0.0.0/16 eth0')], typicalHost()),
      /must be wider than underlay 172\.16\.0\.0\/16/,
    );
    const odd = hostFacts([iface('odd0', ['10.5.0.0/16'])]);
    assertConfigError(
      () => resolveFans([spec('250.0.0.0/8 odd0')], odd),
      'host address 10.5.0.0 is the network address of underlay 10.5.0.0/16',
    );
  });

  it('passes resolution errors through', () => {
    assertConfigError(
      () => resolveFans([spec('250.0.0.0/8 eth9/16')], typicalHost()),
      'interface eth9 (underlay "eth9/16") does not exist',
    );
  });
});

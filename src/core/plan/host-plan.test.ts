import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCidr, formatIpv4, parseIpv4 } from '../address/ipv4.js';
import { type Fan, resolveFans } from '../config/resolve.js';
import { parseFanWords } from '../config/fan-spec.js';
import type { HostFacts } from '../model/host-facts.js';
import type { RouteSpec } from '../model/host-state.js';
import { assertConfigError, cidrOf, hostFacts, iface, route } from '../../testing/builders.js';
import { bridgeAddresses, dhcpSpec, fanMtu, firstContainerAddress, planHost } from './host-plan.js';
import { overlayEntry } from '../../backends/overlay-entry.js';
import type { DesiredHost } from '../model/host-state.js';

/** The vxlan backend's device in the old shape: the tunnel link with its table. */
function tunnelOf(plan: DesiredHost): object | undefined {
  const d = plan.devices.find((x) => x.backend === 'vxlan');
  if (d?.link?.type !== 'vxlan') return undefined;
  const { name, port, mtu, mac, alias } = d.link;
  return { name, port, mtu, mac, alias, overlays: d.overlays };
}
const tunnel = (
  plan: DesiredHost,
): { name?: string; mtu?: number; overlays: DesiredHost['devices'][number]['overlays'] } =>
  (tunnelOf(plan) as
    | { name: string; mtu: number; overlays: DesiredHost['devices'][number]['overlays'] }
    | undefined) ?? { overlays: [] };
/** The host-gw backend's devices: underlay device, placeholder MAC, table. */
function hostGwOf(plan: DesiredHost): object[] {
  return plan.devices
    .filter((x) => x.backend === 'host-gw')
    .map((d) => ({ dev: d.dev, mac: d.neighbour?.mac, overlays: d.overlays }));
}

const ETH0_MAC = '02:00:ac:10:03:04';
const OPTIONS = { stateDir: '/run/fan' };

/** eth0 172.16.3.4/16 (MTU 1500, default route), eth1 10.99.238.5/20 (MTU 9000). */
const FACTS: HostFacts = hostFacts(
  [
    iface('lo', ['127.0.0.1/8'], { mtu: 65536 }),
    iface('eth0', ['172.16.3.4/16'], { mac: ETH0_MAC }),
    iface('eth1', ['10.99.238.5/20'], { mtu: 9000, mac: '02:00:0a:63:ee:05' }),
  ],
  [
    route('default', 'eth0', { gateway: parseIpv4('172.16.0.1') }),
    route('172.16.0.0/16', 'eth0'),
    route('10.99.224.0/20', 'eth1'),
  ],
);

/** Fans as `fanctl up` would resolve them on FACTS, one command line each. */
function fans(...lines: string[]): Fan[] {
  return resolveFans(
    lines.map((line) => parseFanWords(line.split(' '))),
    FACTS,
  );
}

const VXLAN_250 = '-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp';
const ip = parseIpv4;
const ONLINK = ip('169.254.250.1');

/** Routes as text, `DST dev DEV via VIA src SRC mtu MTU`. */
const routeText = (r: RouteSpec): string =>
  `${formatCidr(r.dst)} dev ${r.dev} via ${r.via === undefined ? '-' : formatIpv4(r.via)} src ` +
  `${r.src === undefined ? '-' : formatIpv4(r.src)} mtu ${r.mtu ?? '-'}`;

describe('planHost: one vxlan fan (250.0.0.0/8 over 172.16.0.0/16, host 172.16.3.4, MTU 1500)', () => {
  const [fan] = fans(VXLAN_250) as [Fan];
  const plan = planHost([fan], OPTIONS);

  it('fan-250 bridge: slice+1 with the slice prefix, MTU less the VXLAN overhead, its MAC from slice+1, fan alias', () => {
    assert.equal(fanMtu(fan), 1450);
    assert.deepEqual(plan.bridges, [
      {
        name: 'fan-250',
        mtu: 1450,
        mac: '0a:58:fa:03:04:01',
        addresses: [cidrOf('250.3.4.1/24')],
        alias: 'fan: bridge of fan 250.0.0.0/8 over 172.16.0.0/16',
      },
    ]);
  });

  it('host-reserve 3 keeps .1 to .3 on the bridge and containers start at .4', () => {
    const [wide] = fans(`${VXLAN_250} --host-reserve 3`) as [Fan];
    assert.deepEqual(bridgeAddresses(wide).map(formatCidr), ['250.3.4.1/24', '250.3.4.2/24', '250.3.4.3/24']);
    assert.equal(formatIpv4(firstContainerAddress(wide)), '250.3.4.4');
    assert.deepEqual(planHost([wide], OPTIONS).bridges[0]?.addresses, [
      cidrOf('250.3.4.1/24'),
      cidrOf('250.3.4.2/24'),
      cidrOf('250.3.4.3/24'),
    ]);
    assert.equal(formatIpv4(planHost([wide], OPTIONS).dhcp[0]?.rangeStart ?? 0), '250.3.4.128');
  });

  it('one collect-metadata tunnel: fan-vxlan, port 8472, MTU 1450, the shared fan MAC', () => {
    assert.deepEqual(tunnelOf(plan), {
      name: 'fan-vxlan',
      port: 8472,
      mtu: 1450,
      mac: '0e:fa:00:00:00:01',
      alias: 'fan: vxlan tunnel (eBPF-computed destinations)',
      overlays: [overlayEntry(fan)],
    });
  });

  it('overlay entry: exact numbers of struct fan_overlay', () => {
    assert.deepEqual(overlayEntry(fan), {
      overlay: 4194304000, // 250.0.0.0
      overlayMask: 4278190080, // 255.0.0.0
      underlay: 2886729728, // 172.16.0.0
      underlayMask: 4294901760, // 255.255.0.0
      shift: 8,
      vni: 16384000, // 250.0.0.0 >> 8
      local: 2886730500, // 172.16.3.4
    });
  });

  it('one route for the whole overlay, via the on-link placeholder, from the gateway', () => {
    assert.deepEqual(plan.routes, [
      { dst: cidrOf('250.0.0.0/8'), dev: 'fan-vxlan', via: ONLINK, src: ip('250.3.4.1'), mtu: 1450 },
    ]);
    assert.deepEqual(plan.routes.map(routeText), [
      '250.0.0.0/8 dev fan-vxlan via 169.254.250.1 src 250.3.4.1 mtu 1450',
    ]);
  });

  it('NAT spec names the slice, the overlay, the bridge, the tunnel and its port', () => {
    assert.deepEqual(plan.nat, {
      slices: [cidrOf('250.3.4.0/24')],
      overlays: [cidrOf('250.0.0.0/8')],
      bridges: ['fan-250'],
      tunnel: 'fan-vxlan',
      tunnelPort: 8472,
    });
  });

  it('FORWARD accept: the bridge, with overlay traffic arriving from the tunnel', () => {
    assert.deepEqual(plan.forwardAccept, [{ bridge: 'fan-250', from: 'fan-vxlan' }]);
  });

  it('no host-gw part', () => {
    assert.deepEqual(hostGwOf(plan), []);
  });

  it('DHCP: the DHCP share of the slice (its upper half), with the slice netmask, gateway, MTU and state files', () => {
    const expected = {
      bridge: 'fan-250',
      rangeStart: ip('250.3.4.128'),
      rangeEnd: ip('250.3.4.254'),
      netmask: ip('255.255.255.0'),
      gateway: ip('250.3.4.1'),
      mtu: 1450,
      leaseFile: '/run/fan/fan-250.leases',
      pidFile: '/run/fan/fan-250.dnsmasq.pid',
    };
    assert.deepEqual(dhcpSpec(fan, OPTIONS), expected);
    assert.deepEqual(plan.dhcp, [expected]);
  });

  it('no DHCP spec without --dhcp', () => {
    assert.deepEqual(planHost(fans('-o 250.0.0.0/8 -u 172.16.0.0/16'), OPTIONS).dhcp, []);
  });
});

describe('planHost: several fans', () => {
  it('maps up to 16 vxlan overlays (the eBPF table) and refuses a 17th before touching the host', () => {
    const lines = (n: number): string[] =>
      Array.from({ length: n }, (_, i) => `-o ${240 + i}.0.0.0/8 -u 172.16.0.0/16 --bridge f${i}`);
    assert.equal(tunnel(planHost(fans(...lines(16)), OPTIONS)).overlays.length, 16);
    const seventeen = fans(...lines(16), '-o 100.0.0.0/8 -u 172.16.0.0/16 --bridge f16');
    assertConfigError(
      () => planHost(seventeen, OPTIONS),
      '17 fans on fan-vxlan, but one eBPF table maps at most 16 overlays',
      'take some fans down, or give them a wider overlay each',
    );
  });

  it('two vxlan overlays share one tunnel and keep their order (first match wins)', () => {
    const two = fans('-o 251.0.0.0/8 -u 172.16.0.0/16', '-o 250.0.0.0/8 -u 172.16.0.0/16');
    const plan = planHost(two, OPTIONS);
    assert.deepEqual(
      plan.bridges.map((b) => b.name),
      ['fan-251', 'fan-250'],
    );
    assert.equal(tunnel(plan).name, 'fan-vxlan');
    assert.deepEqual(
      tunnel(plan).overlays.map((o) => formatIpv4(o.overlay)),
      ['251.0.0.0', '250.0.0.0'],
    );
    assert.deepEqual(
      tunnel(plan).overlays.map((o) => o.vni),
      [251 << 16, 250 << 16],
    );
    assert.deepEqual(plan.routes.map(routeText), [
      '251.0.0.0/8 dev fan-vxlan via 169.254.250.1 src 251.3.4.1 mtu 1450',
      '250.0.0.0/8 dev fan-vxlan via 169.254.250.1 src 250.3.4.1 mtu 1450',
    ]);
    assert.deepEqual(plan.nat, {
      slices: [cidrOf('251.3.4.0/24'), cidrOf('250.3.4.0/24')],
      overlays: [cidrOf('251.0.0.0/8'), cidrOf('250.0.0.0/8')],
      bridges: ['fan-251', 'fan-250'],
      tunnel: 'fan-vxlan',
      tunnelPort: 8472,
    });
    assert.deepEqual(plan.forwardAccept, [
      { bridge: 'fan-251', from: 'fan-vxlan' },
      { bridge: 'fan-250', from: 'fan-vxlan' },
    ]);
  });

  it(`vxlan fans on underlays with different MTUs: each bridge and route keeps its own, \
the tunnel takes the largest`, () => {
    const plan = planHost(fans('-o 250.0.0.0/8 -u 172.16.0.0/16', '-o 240.0.0.0/8 -u 10.99.0.0/16'), OPTIONS);
    assert.deepEqual(
      plan.bridges.map((b) => `${b.name} ${b.mtu} ${b.addresses.map(formatCidr).join(',')}`),
      ['fan-250 1450 250.3.4.1/24', 'fan-240 8950 240.238.5.1/24'],
    );
    assert.equal(tunnel(plan).mtu, 8950);
    assert.deepEqual(
      plan.routes.map((r) => r.mtu),
      [1450, 8950],
    );
  });

  it(`host-gw: no tunnel, the device MTU, routes and FORWARD on the underlay device, \
placeholder MAC = device MAC`, () => {
    const [fan] = fans('-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw') as [Fan];
    const plan = planHost([fan], OPTIONS);
    assert.equal(tunnelOf(plan), undefined);
    assert.equal(fanMtu(fan), 1500);
    assert.deepEqual(
      plan.bridges.map((b) => `${b.name} ${b.mtu}`),
      ['fan-250 1500'],
    );
    assert.deepEqual(plan.routes.map(routeText), ['250.0.0.0/8 dev eth0 via 169.254.250.1 src 250.3.4.1 mtu 1500']);
    assert.deepEqual(hostGwOf(plan), [{ dev: 'eth0', mac: ETH0_MAC, overlays: [overlayEntry(fan)] }]);
    assert.deepEqual(plan.forwardAccept, [{ bridge: 'fan-250', from: 'eth0' }]);
    assert.deepEqual(plan.nat, {
      slices: [cidrOf('250.3.4.0/24')],
      overlays: [cidrOf('250.0.0.0/8')],
      bridges: ['fan-250'],
    });
    assert.ok(plan.nat !== undefined && !('tunnel' in plan.nat), 'no MSS clamp without a tunnel');
  });

  it('host-gw fans on one device share its program and table, in order', () => {
    const plan = planHost(
      fans('-o 251.0.0.0/8 -u 172.16.0.0/16 --type host-gw', '-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw'),
      OPTIONS,
    );
    assert.equal(hostGwOf(plan).length, 1);
    assert.deepEqual(
      plan.devices[0]?.overlays.map((o) => formatIpv4(o.overlay)),
      ['251.0.0.0', '250.0.0.0'],
    );
  });

  it('host-gw on a device without a MAC is refused', () => {
    const noMac = hostFacts([iface('wg0', ['172.16.3.4/16'])], [route('172.16.0.0/16', 'wg0')]);
    const fan = resolveFans([parseFanWords('-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw'.split(' '))], noMac);
    assertConfigError(
      () => planHost(fan, OPTIONS),
      'underlay device wg0 has no MAC address',
      'host-gw needs an Ethernet underlay; use --type vxlan',
    );
  });

  it('vxlan and host-gw mixed: the tunnel carries only the vxlan overlays, each route goes its own way', () => {
    const mixed = fans('-o 250.0.0.0/8 -u 172.16.0.0/16', '-o 240.0.0.0/8 -u 10.99.0.0/16 --type host-gw');
    const plan = planHost(mixed, OPTIONS);
    assert.deepEqual(tunnel(plan).overlays, [overlayEntry(mixed[0] as Fan)]);
    assert.equal(tunnel(plan).mtu, 1450);
    assert.deepEqual(hostGwOf(plan), [
      { dev: 'eth1', mac: '02:00:0a:63:ee:05', overlays: [overlayEntry(mixed[1] as Fan)] },
    ]);
    assert.deepEqual(plan.routes.map(routeText), [
      '250.0.0.0/8 dev fan-vxlan via 169.254.250.1 src 250.3.4.1 mtu 1450',
      '240.0.0.0/8 dev eth1 via 169.254.250.1 src 240.238.5.1 mtu 9000',
    ]);
    assert.deepEqual(plan.forwardAccept, [
      { bridge: 'fan-250', from: 'fan-vxlan' },
      { bridge: 'fan-240', from: 'eth1' },
    ]);
    assert.equal(plan.nat?.tunnel, 'fan-vxlan');
    assert.deepEqual(plan.nat?.bridges, ['fan-250', 'fan-240']);
  });

  it('no fans: an empty plan, without tunnel or NAT (the table is removed)', () => {
    assert.deepEqual(planHost([], OPTIONS), { bridges: [], devices: [], routes: [], forwardAccept: [], dhcp: [] });
  });
});

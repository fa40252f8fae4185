import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatCidr, parseIpv4 } from '../address/ipv4.js';
import { resolveFans } from '../config/resolve.js';
import { parseFanWords } from '../config/fan-spec.js';
import type { CurrentHost, DesiredHost, DhcpSpec, LinkState, NatSpec } from '../model/host-state.js';
import { assertConfigError, cidrOf, hostFacts, iface, route } from '../../testing/builders.js';
import { contentKey, dhcpKey, diffHost, natKey } from './diff.js';
import { planHost } from './host-plan.js';
import { renderNftTable } from '../../codec/nft.js';
import { type Op, describeOp } from './ops.js';
import { EMPTY_HOST } from '../../testing/dataplane.js';

const ETH0_MAC = '02:00:ac:10:03:04';
const ETH0: LinkState = {
  name: 'eth0',
  kind: 'ether',
  mtu: 1500,
  up: true,
  mac: ETH0_MAC,
  addresses: [cidrOf('172.16.3.4/16')],
};
const FACTS = hostFacts(
  [iface('eth0', ['172.16.3.4/16'], { mac: ETH0_MAC })],
  [route('default', 'eth0', { gateway: parseIpv4('172.16.0.1') }), route('172.16.0.0/16', 'eth0')],
);

/** The plan `fanctl up` makes on eth0 172.16.3.4/16 (MTU 1500) for these command lines. */
function plan(...lines: string[]): DesiredHost {
  return planHost(
    resolveFans(
      lines.map((l) => parseFanWords(l.split(' '))),
      FACTS,
    ),
    { stateDir: '/run/fan' },
  );
}

const VXLAN = plan('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp');
const VXLAN_2 = plan('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp', '-o 251.0.0.0/8 -u 172.16.0.0/16 --dhcp');
const HOSTGW = plan('-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw');
const RESERVE_3 = plan('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp --host-reserve 3');
const NONE = planHost([], { stateDir: '/run/fan' });

/** A host with nothing of fan's: eth0 only, IP forwarding off, iptables available. */
const EMPTY: CurrentHost = { ...EMPTY_HOST, links: [ETH0], ipForward: false };

/** What the kernel layer reads back from a host on which `desired` was applied completely. */
function mirror(desired: DesiredHost): CurrentHost {
  return {
    links: [
      ETH0,
      ...desired.bridges.map((b) => ({
        name: b.name,
        kind: 'bridge',
        mtu: b.mtu,
        up: true,
        alias: b.alias,
        addresses: b.addresses,
      })),
      ...desired.devices.flatMap((d) =>
        d.link?.type === 'vxlan'
          ? [
              {
                name: d.link.name,
                kind: 'vxlan',
                mtu: d.link.mtu,
                up: true,
                mac: d.link.mac,
                alias: d.link.alias,
                group: '250',
                addresses: [],
              },
            ]
          : [],
      ),
    ],
    routes: desired.routes,
    tcPrograms: desired.devices.flatMap((d) =>
      d.programs.map((p, i) => ({
        dev: d.dev,
        direction: p.direction,
        progId: 41 + i,
        name: `fan_${p.direction}`,
        section: p.section,
        overlays: d.overlays,
      })),
    ),
    neighbours: desired.devices.flatMap((d) => (d.neighbour ? [{ dev: d.dev, ...d.neighbour }] : [])),
    hostGw: [],
    ...(desired.nat ? { nftKey: natKey(desired.nat), nftText: renderNftTable(desired.nat, natKey(desired.nat)) } : {}),
    forwardAccept: desired.forwardAccept,
    iptables: true,
    dhcp: desired.dhcp.map((d, i) => ({ bridge: d.bridge, pid: 1000 + i, key: dhcpKey(d) })),
    ipForward: true,
  };
}

/** One op as `kind TARGET…`: enough to read a plan at a glance. */
function brief(op: Op): string {
  switch (op.kind) {
    case 'link-add':
    case 'link-del':
      return `${op.kind} ${op.link.name}`;
    case 'link-mtu':
      return `${op.kind} ${op.name} ${op.mtu}`;
    case 'link-alias':
    case 'link-up':
      return `${op.kind} ${op.name}`;
    case 'addr-add':
    case 'addr-del':
      return `${op.kind} ${op.dev} ${formatCidr(op.cidr)}`;
    case 'tc-attach':
    case 'tc-detach':
    case 'neigh-del':
      return `${op.kind} ${op.dev}`;
    case 'overlay-table':
      return `${op.kind} ${op.dev} ${op.overlays.length}`;
    case 'neigh-replace':
      return `${op.kind} ${op.dev} ${op.mac}`;
    case 'route-replace':
    case 'route-del':
      return `${op.kind} ${formatCidr(op.route.dst)} ${op.route.dev}`;
    case 'nft-replace':
      return `${op.kind} ${op.nat.bridges.join(',')}`;
    case 'forward-accept-add':
      return `${op.kind} ${op.bridge} ${op.from}`;
    case 'forward-accept-del':
      return `${op.kind} ${op.bridge}`;
    case 'dhcp-start':
      return `${op.kind} ${op.dhcp.bridge}`;
    case 'dhcp-stop':
      return `${op.kind} ${op.bridge} ${op.pid}`;
    case 'nft-delete':
      return op.kind;
    case 'sysctl':
      return `${op.kind} ${op.key}`;
    case 'port-attach':
    case 'port-del':
      return `${op.kind} ${op.dev} ${op.bridge}`;
  }
}

const with_ = (host: CurrentHost, change: Partial<CurrentHost>): CurrentHost => ({ ...host, ...change });
const withLink = (host: CurrentHost, name: string, change: Partial<LinkState>): CurrentHost =>
  with_(host, { links: host.links.map((l) => (l.name === name ? { ...l, ...change } : l)) });

interface Case {
  readonly name: string;
  readonly current: CurrentHost;
  readonly desired: DesiredHost;
  readonly ops: readonly string[];
}

const CASES: readonly Case[] = [
  {
    name: 'vxlan fan on an empty host: outer to inner',
    current: EMPTY,
    desired: VXLAN,
    ops: [
      'sysctl net.ipv4.ip_forward',
      'link-add fan-250',
      'addr-add fan-250 250.3.4.1/24',
      'link-up fan-250',
      'link-add fan-vxlan',
      'tc-attach fan-vxlan',
      'overlay-table fan-vxlan 1',
      'link-up fan-vxlan',
      'route-replace 250.0.0.0/8 fan-vxlan',
      'nft-replace fan-250',
      'forward-accept-add fan-250 fan-vxlan',
      'dhcp-start fan-250',
    ],
  },
  {
    name: 'two vxlan fans on an empty host: one tunnel, both overlays in its table',
    current: EMPTY,
    desired: VXLAN_2,
    ops: [
      'sysctl net.ipv4.ip_forward',
      'link-add fan-250',
      'addr-add fan-250 250.3.4.1/24',
      'link-up fan-250',
      'link-add fan-251',
      'addr-add fan-251 251.3.4.1/24',
      'link-up fan-251',
      'link-add fan-vxlan',
      'tc-attach fan-vxlan',
      'overlay-table fan-vxlan 2',
      'link-up fan-vxlan',
      'route-replace 250.0.0.0/8 fan-vxlan',
      'route-replace 251.0.0.0/8 fan-vxlan',
      'nft-replace fan-250,fan-251',
      'forward-accept-add fan-250 fan-vxlan',
      'forward-accept-add fan-251 fan-vxlan',
      'dhcp-start fan-250',
      'dhcp-start fan-251',
    ],
  },
  { name: 'idempotent: vxlan', current: mirror(VXLAN), desired: VXLAN, ops: [] },
  { name: 'idempotent: two vxlan fans', current: mirror(VXLAN_2), desired: VXLAN_2, ops: [] },
  { name: 'idempotent: host-gw', current: mirror(HOSTGW), desired: HOSTGW, ops: [] },
  { name: 'idempotent: host-reserve 3', current: mirror(RESERVE_3), desired: RESERVE_3, ops: [] },
  { name: 'idempotent: nothing wanted, nothing there', current: EMPTY, desired: NONE, ops: [] },
  {
    name: 'IP forwarding already on: not set again',
    current: with_(EMPTY, { ipForward: true }),
    desired: VXLAN,
    ops: createOps().slice(1),
  },
  {
    name: 'bridge MTU changed',
    current: withLink(mirror(VXLAN), 'fan-250', { mtu: 1500 }),
    desired: VXLAN,
    ops: ['link-mtu fan-250 1450'],
  },
  {
    name: 'tunnel MTU changed',
    current: withLink(mirror(VXLAN), 'fan-vxlan', { mtu: 8950 }),
    desired: VXLAN,
    ops: ['link-mtu fan-vxlan 1450'],
  },
  {
    name: 'bridge down',
    current: withLink(mirror(VXLAN), 'fan-250', { up: false }),
    desired: VXLAN,
    ops: ['link-up fan-250'],
  },
  {
    name: 'tunnel down',
    current: withLink(mirror(VXLAN), 'fan-vxlan', { up: false }),
    desired: VXLAN,
    ops: ['link-up fan-vxlan'],
  },
  {
    name: 'missing bridge address',
    current: withLink(mirror(RESERVE_3), 'fan-250', { addresses: [cidrOf('250.3.4.1/24'), cidrOf('250.3.4.2/24')] }),
    desired: RESERVE_3,
    ops: ['addr-add fan-250 250.3.4.3/24'],
  },
  {
    name: 'extra bridge address (host-reserve lowered from 3 to 1)',
    current: withLink(mirror(VXLAN), 'fan-250', {
      addresses: [cidrOf('250.3.4.1/24'), cidrOf('250.3.4.2/24'), cidrOf('250.3.4.3/24')],
    }),
    desired: VXLAN,
    ops: ['addr-del fan-250 250.3.4.2/24', 'addr-del fan-250 250.3.4.3/24'],
  },
  {
    name: 'same address with another prefix: replaced',
    current: withLink(mirror(VXLAN), 'fan-250', { addresses: [cidrOf('250.3.4.1/16')] }),
    desired: VXLAN,
    ops: ['addr-add fan-250 250.3.4.1/24', 'addr-del fan-250 250.3.4.1/16'],
  },
  {
    name: 'overlay table differs: rewritten, nothing else',
    current: with_(mirror(VXLAN), {
      tcPrograms: mirror(VXLAN).tcPrograms.map((p) => ({
        ...p,
        overlays: p.overlays?.map((o) => ({ ...o, local: parseIpv4('172.16.9.9') })),
      })),
    }),
    desired: VXLAN,
    ops: ['overlay-table fan-vxlan 1'],
  },
  {
    name: 'overlay table unreadable (absent): rewritten',
    current: with_(mirror(VXLAN), { tcPrograms: mirror(VXLAN).tcPrograms.map(({ overlays: _gone, ...p }) => p) }),
    desired: VXLAN,
    ops: ['overlay-table fan-vxlan 1'],
  },
  {
    name: 'egress program missing: attach again and refill the (new) table',
    current: with_(mirror(VXLAN), { tcPrograms: mirror(VXLAN).tcPrograms.filter((p) => p.direction === 'ingress') }),
    desired: VXLAN,
    ops: ['tc-attach fan-vxlan', 'overlay-table fan-vxlan 1'],
  },
  {
    name: 'ingress program missing: attach again and refill',
    current: with_(mirror(VXLAN), { tcPrograms: mirror(VXLAN).tcPrograms.filter((p) => p.direction === 'egress') }),
    desired: VXLAN,
    ops: ['tc-attach fan-vxlan', 'overlay-table fan-vxlan 1'],
  },
  {
    name: 'route with another MTU: replaced, never deleted',
    current: with_(mirror(VXLAN), { routes: VXLAN.routes.map((r) => ({ ...r, mtu: 1500 })) }),
    desired: VXLAN,
    ops: ['route-replace 250.0.0.0/8 fan-vxlan'],
  },
  {
    name: 'table flushed by hand (key still there): replaced',
    current: with_(mirror(VXLAN), {
      nftText: `table ip fan {\n\tcomment "managed by fanctl; key ${natKey(VXLAN.nat as NatSpec)}"\n}\n`,
    }),
    desired: VXLAN,
    ops: ['nft-replace fan-250'],
  },
  {
    name: 'stale nft key: table replaced',
    current: with_(mirror(VXLAN), { nftKey: '00000000' }),
    desired: VXLAN,
    ops: ['nft-replace fan-250'],
  },
  {
    name: 'no iptables on the host: no FORWARD rules added',
    current: with_(EMPTY, { iptables: false }),
    desired: VXLAN,
    ops: createOps().filter((op) => !op.startsWith('forward-accept-add')),
  },
  {
    name: 'DHCP spec changed: dnsmasq stopped, then started again',
    current: with_(mirror(VXLAN), { dhcp: [{ bridge: 'fan-250', pid: 1000, key: 'deadbeef' }] }),
    desired: VXLAN,
    ops: ['dhcp-stop fan-250 1000', 'dhcp-start fan-250'],
  },
  {
    name: 'dnsmasq not running: started',
    current: with_(mirror(VXLAN), { dhcp: [] }),
    desired: VXLAN,
    ops: ['dhcp-start fan-250'],
  },
  {
    name: 'removal: everything of fan goes, inner to outer',
    current: mirror(VXLAN),
    desired: NONE,
    ops: [
      'dhcp-stop fan-250 1000',
      'forward-accept-del fan-250',
      'nft-delete',
      'route-del 250.0.0.0/8 fan-vxlan',
      'tc-detach fan-vxlan',
      'link-del fan-250',
      'link-del fan-vxlan',
    ],
  },
  {
    name: 'removal never deletes links without the fan alias',
    current: with_(mirror(VXLAN), {
      links: [
        ...mirror(VXLAN).links,
        { name: 'docker0', kind: 'bridge', mtu: 1500, up: true, addresses: [cidrOf('172.17.0.1/16')] },
        { name: 'vxlan42', kind: 'vxlan', mtu: 1450, up: true, alias: 'flannel', addresses: [] },
        { name: 'fan-9', kind: 'bridge', mtu: 1500, up: true, alias: 'not fan: someone else', addresses: [] },
      ],
    }),
    desired: NONE,
    ops: [
      'dhcp-stop fan-250 1000',
      'forward-accept-del fan-250',
      'nft-delete',
      'route-del 250.0.0.0/8 fan-vxlan',
      'tc-detach fan-vxlan',
      'link-del fan-250',
      'link-del fan-vxlan',
    ],
  },
  {
    name: 'one of two fans removed: its objects go, the shared tunnel and table are updated',
    current: mirror(VXLAN_2),
    desired: VXLAN,
    ops: [
      'overlay-table fan-vxlan 1',
      'nft-replace fan-250',
      'dhcp-stop fan-251 1001',
      'forward-accept-del fan-251',
      'route-del 251.0.0.0/8 fan-vxlan',
      'link-del fan-251',
    ],
  },
  {
    name: 'host-gw on an empty host: placeholder neighbour, program and table on the underlay device',
    current: EMPTY,
    desired: HOSTGW,
    ops: [
      'sysctl net.ipv4.ip_forward',
      'link-add fan-250',
      'addr-add fan-250 250.3.4.1/24',
      'link-up fan-250',
      'neigh-replace eth0 02:00:ac:10:03:04',
      'tc-attach eth0',
      'overlay-table eth0 1',
      'route-replace 250.0.0.0/8 eth0',
      'nft-replace fan-250',
      'forward-accept-add fan-250 eth0',
    ],
  },
  {
    name: 'host-gw removal: program and neighbour go after the route; eth0 stays',
    current: mirror(HOSTGW),
    desired: NONE,
    ops: [
      'forward-accept-del fan-250',
      'nft-delete',
      'route-del 250.0.0.0/8 eth0',
      'tc-detach eth0',
      'neigh-del eth0',
      'link-del fan-250',
    ],
  },
  {
    name: 'host-gw neighbour with a stale MAC: only the neighbour is replaced',
    current: with_(mirror(HOSTGW), {
      neighbours: (mirror(HOSTGW).neighbours ?? []).map((n) => ({ ...n, mac: '02:00:00:00:00:99' })),
    }),
    desired: HOSTGW,
    ops: ['neigh-replace eth0 02:00:ac:10:03:04'],
  },
  {
    name: 'host-gw program detached: attached again and refilled',
    current: with_(mirror(HOSTGW), { tcPrograms: [] }),
    desired: HOSTGW,
    ops: ['tc-attach eth0', 'overlay-table eth0 1'],
  },
  {
    name: 'vxlan to host-gw: the tunnel goes, the route moves to the device',
    current: with_(mirror(VXLAN), { iptables: false }),
    desired: HOSTGW,
    ops: [
      'link-mtu fan-250 1500',
      'neigh-replace eth0 02:00:ac:10:03:04',
      'tc-attach eth0',
      'overlay-table eth0 1',
      'route-replace 250.0.0.0/8 eth0',
      'nft-replace fan-250',
      'dhcp-stop fan-250 1000',
      'tc-detach fan-vxlan',
      'link-del fan-vxlan',
    ],
  },
];

/** The ops of the first case (a vxlan fan on an empty host), for cases that vary it. */
function createOps(): string[] {
  return [
    'sysctl net.ipv4.ip_forward',
    'link-add fan-250',
    'addr-add fan-250 250.3.4.1/24',
    'link-up fan-250',
    'link-add fan-vxlan',
    'tc-attach fan-vxlan',
    'overlay-table fan-vxlan 1',
    'link-up fan-vxlan',
    'route-replace 250.0.0.0/8 fan-vxlan',
    'nft-replace fan-250',
    'forward-accept-add fan-250 fan-vxlan',
    'dhcp-start fan-250',
  ];
}

describe('diffHost (table)', () => {
  for (const c of CASES) {
    it(c.name, () => {
      assert.deepEqual(diffHost(c.current, c.desired).map(brief), c.ops);
    });
  }
});

describe('diffHost: op payloads', () => {
  it('a fresh host gets the planned objects themselves', () => {
    const ops = diffHost(EMPTY, VXLAN);
    const bridge = VXLAN.bridges[0];
    const links = ops.filter((o) => o.kind === 'link-add');
    assert.deepEqual(links[0], {
      kind: 'link-add',
      link: { type: 'bridge', name: bridge?.name, mtu: bridge?.mtu, alias: bridge?.alias, mac: bridge?.mac },
    });
    assert.deepEqual(links[1], { kind: 'link-add', link: VXLAN.devices[0]?.link });
    assert.deepEqual(
      ops.find((o) => o.kind === 'overlay-table'),
      { kind: 'overlay-table', dev: 'fan-vxlan', overlays: VXLAN.devices[0]?.overlays },
    );
    assert.deepEqual(
      ops.find((o) => o.kind === 'route-replace'),
      { kind: 'route-replace', route: VXLAN.routes[0] },
    );
    assert.deepEqual(
      ops.find((o) => o.kind === 'nft-replace'),
      { kind: 'nft-replace', nat: VXLAN.nat },
    );
    assert.deepEqual(
      ops.find((o) => o.kind === 'dhcp-start'),
      { kind: 'dhcp-start', dhcp: VXLAN.dhcp[0] },
    );
  });

  it('route-del carries the route as read back', () => {
    const current = mirror(VXLAN);
    assert.deepEqual(
      diffHost(current, NONE).find((o) => o.kind === 'route-del'),
      { kind: 'route-del', route: current.routes[0] },
    );
  });

  it('describeOp reads as a plan', () => {
    assert.deepEqual(diffHost(EMPTY, VXLAN).map(describeOp), [
      'set net.ipv4.ip_forward = 1',
      'create bridge fan-250 (mtu 1450)',
      'add 250.3.4.1/24 to fan-250',
      'bring fan-250 up',
      'create vxlan fan-vxlan (external, port 8472, mtu 1450)',
      'attach eBPF programs to fan-vxlan (tc clsact egress+ingress)',
      'write 1 overlay(s) into the eBPF table of fan-vxlan',
      'bring fan-vxlan up',
      'route 250.0.0.0/8 via fan-vxlan',
      'load nftables table fan (NAT for 250.3.4.0/24)',
      'accept forwarding for fan-250 in iptables FORWARD',
      'start dnsmasq on fan-250',
    ]);
    assert.deepEqual(diffHost(mirror(HOSTGW), NONE).map(describeOp), [
      "remove fan's FORWARD rules for fan-250",
      'delete nftables table fan',
      'remove route 250.0.0.0/8',
      "remove fan's eBPF programs from eth0",
      'remove the placeholder neighbour on eth0',
      'delete fan-250',
    ]);
  });
});

describe('diffHost: FORWARD rules follow the device overlay traffic arrives on', () => {
  // A fan that changes type or underlay device must not keep its `-i fan-vxlan -o fan-250` rule: with FORWARD
  // policy drop, traffic from other hosts would be dropped. The rules are replaced.
  it('vxlan to host-gw under FORWARD policy drop re-points the rules', () => {
    const ops = diffHost(mirror(VXLAN), HOSTGW).map(brief);
    assert.ok(ops.includes('forward-accept-add fan-250 eth0'), ops.join('; '));
    assert.ok(
      ops.indexOf('forward-accept-del fan-250') < ops.indexOf('forward-accept-add fan-250 eth0'),
      ops.join('; '),
    );
  });

  it('puts new rules in DOCKER-USER when Docker made that chain', () => {
    const ops = diffHost({ ...EMPTY, forwardChain: 'DOCKER-USER' }, VXLAN).filter(
      (op) => op.kind === 'forward-accept-add',
    );
    assert.deepEqual(ops, [{ kind: 'forward-accept-add', bridge: 'fan-250', from: 'fan-vxlan', chain: 'DOCKER-USER' }]);
  });
});

describe('diffHost: objects fan does not own', () => {
  it('refuses a bridge of the same name without the fan alias, naming it', () => {
    const current = with_(EMPTY, {
      links: [ETH0, { name: 'fan-250', kind: 'bridge', mtu: 1500, up: true, addresses: [] }],
    });
    assertConfigError(
      () => diffHost(current, VXLAN),
      'fan-250 already exists and was not created by fan; fan will not change it',
      'remove fan-250 yourself, or give this fan another bridge name (--bridge NAME)',
    );
  });

  it('refuses a foreign fan-vxlan', () => {
    const current = with_(mirror(VXLAN), {
      links: mirror(VXLAN).links.map((l) => (l.name === 'fan-vxlan' ? { ...l, alias: 'mine', group: 'default' } : l)),
    });
    assertConfigError(() => diffHost(current, VXLAN), /^fan-vxlan already exists and was not created by fan/);
  });

  it('host-gw refuses an underlay device that is gone', () => {
    assertConfigError(
      () => diffHost(with_(EMPTY, { links: [] }), HOSTGW),
      'underlay device eth0 does not exist',
      'check the underlay of the host-gw fan',
    );
  });
});

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const dhcpArb: fc.Arbitrary<DhcpSpec> = fc.record({
  bridge: fc.string({ minLength: 1, maxLength: 15 }),
  rangeStart: u32,
  rangeEnd: u32,
  netmask: u32,
  gateway: u32,
  mtu: fc.integer({ min: 68, max: 65535 }),
  leaseFile: fc.string(),
  pidFile: fc.string(),
});

describe('contentKey (properties)', () => {
  it('is 8 hex digits and the same for equal values (a deep copy)', () => {
    fc.assert(
      fc.property(dhcpArb, (d) => {
        const key = dhcpKey(d);
        assert.match(key, /^[0-9a-f]{8}$/);
        assert.equal(dhcpKey(structuredClone(d)), key);
        assert.equal(contentKey({ ...d }), key);
      }),
      { seed: 7 },
    );
  });

  it('changes when any one field changes', () => {
    const fields = ['rangeStart', 'rangeEnd', 'netmask', 'gateway', 'mtu'] as const;
    fc.assert(
      fc.property(dhcpArb, fc.constantFrom(...fields), fc.integer({ min: 1, max: 1000 }), (d, field, delta) => {
        assert.notEqual(dhcpKey({ ...d, [field]: d[field] + delta }), dhcpKey(d));
        assert.notEqual(dhcpKey({ ...d, bridge: `${d.bridge}x` }), dhcpKey(d));
        assert.notEqual(dhcpKey({ ...d, leaseFile: `${d.leaseFile}/` }), dhcpKey(d));
      }),
      { seed: 7 },
    );
  });

  it('natKey tells NAT specs apart: slices, order, tunnel', () => {
    const nat = VXLAN.nat as NatSpec;
    const { tunnel: _t, ...noTunnel } = nat;
    const keys = [
      natKey(nat),
      natKey(noTunnel),
      natKey({ ...nat, slices: [cidrOf('250.3.5.0/24')] }),
      natKey(VXLAN_2.nat as NatSpec),
      natKey({ ...(VXLAN_2.nat as NatSpec), bridges: ['fan-251', 'fan-250'] }),
    ];
    assert.equal(new Set(keys).size, keys.length);
    assert.equal(
      natKey(plan('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp').nat as NatSpec),
      natKey(nat),
      'stable across plans',
    );
  });
});

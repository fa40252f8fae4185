import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFanWords } from '../../core/config/fan-spec.js';
import { resolveFans } from '../../core/config/resolve.js';
import type { CurrentHost } from '../../core/model/host-state.js';
import { FAN_LINK_GROUP, FAN_ONLINK_GATEWAY } from '../../core/model/host-state.js';
import { diffHost } from '../../core/plan/diff.js';
import type { Op } from '../../core/plan/ops.js';
import { planHost } from '../../core/plan/host-plan.js';
import { EMPTY_HOST, briefOp, deviceLines, fansOf, planOf } from '../../testing/dataplane.js';
import { assertConfigError, hostFacts, iface, route } from '../../testing/builders.js';
import { hostGwBackend } from '../host-gw/backend.js';
import { overlayEntry } from '../overlay-entry.js';
import { backendOf, carriesVxlan, fanMtu } from '../registry.js';
import { GW_RX_SECTION, GW_TX_SECTION, hostGwFastBackend } from './backend.js';

describe('host-gw-fast backend', () => {
  it('is selected by --type host-gw-fast: full MTU, the underlay device as the peer device, no tunnel', () => {
    const [fan] = fansOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw-fast');
    assert.ok(fan);
    assert.equal(backendOf(fan), hostGwFastBackend);
    assert.equal(fanMtu(fan), 1500);
    assert.equal(hostGwFastBackend.peerDevice(fan), 'eth0');
    assert.equal(carriesVxlan(fan), false);
    assert.deepEqual(hostGwFastBackend.counterDevices?.(fan), ['eth0', 'fan-250']);
    assert.equal(hostGwFastBackend.portBlock?.(fan), fan.host.slice.address);
  });

  it("keeps host-gw's kernel path (egress program, placeholder neighbour, route) and adds the fast programs", () => {
    const p = planOf(
      '-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw-fast',
      '-o 251.0.0.0/8 -u 172.16.0.0/16 --type host-gw-fast',
    );
    assert.deepEqual(deviceLines(p), [
      `eth0 egress:tc/hostgw,ingress:${GW_RX_SECTION} 2`,
      `fan-250 ingress:${GW_TX_SECTION} 2`,
      `fan-251 ingress:${GW_TX_SECTION} 2`,
    ]);
    assert.deepEqual(p.devices[0]?.neighbour, { address: FAN_ONLINK_GATEWAY, mac: '02:00:ac:10:03:04' });
    assert.deepEqual(
      p.routes.map((r) => `${r.dev} ${r.via}`),
      [`eth0 ${FAN_ONLINK_GATEWAY}`, `eth0 ${FAN_ONLINK_GATEWAY}`],
    );
    assert.equal(p.nat?.tunnel, undefined, 'no tunnel, so no MSS clamp');
  });

  it("the underlay device carries host-gw's table: the same frames, so host-gw hosts share the fan", () => {
    const [fast] = fansOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw-fast');
    const [slow] = fansOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw');
    assert.ok(fast && slow);
    const [fastDev] = hostGwFastBackend.devices([fast]);
    const [slowDev] = hostGwBackend.devices([slow]);
    assert.deepEqual(fastDev?.overlays, slowDev?.overlays);
    assert.deepEqual(fastDev?.overlays, [overlayEntry(fast)]);
    assert.deepEqual(fastDev?.neighbour, slowDev?.neighbour);
  });

  it('state does not grow with the number of hosts: a /16 underlay plans what a /24 does', () => {
    const wide = planOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw-fast');
    const facts24 = hostFacts(
      [iface('eth0', ['172.16.3.4/24'], { mac: '02:00:ac:10:03:04' })],
      [route('172.16.3.0/24', 'eth0')],
    );
    const narrow = planHost(
      resolveFans([parseFanWords('-o 250.0.0.0/8 -u 172.16.3.0/24 --type host-gw-fast'.split(' '))], facts24),
      { stateDir: '/run/fan' },
    );
    assert.deepEqual(deviceLines(wide), deviceLines(narrow));
  });

  it('refuses a host-gw or vxlan-fast fan on the same underlay device, and names the fix', () => {
    for (const other of ['host-gw', 'vxlan-fast']) {
      assertConfigError(
        () =>
          planOf(
            '-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw-fast',
            `-o 240.0.0.0/8 -u 172.16.0.0/16 --type ${other}`,
          ),
        /both need eth0 for their eBPF programs/,
      );
    }
  });

  it('sits beside a vxlan fan on the same underlay device (that one uses the tunnel)', () => {
    const p = planOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw-fast', '-o 240.0.0.0/8 -u 172.16.0.0/16');
    assert.deepEqual(deviceLines(p), [
      'fan-vxlan egress:tc/egress,ingress:tc/ingress 1',
      `eth0 egress:tc/hostgw,ingress:${GW_RX_SECTION} 1`,
      `fan-250 ingress:${GW_TX_SECTION} 1`,
    ]);
  });

  it('needs an Ethernet underlay, as host-gw does', () => {
    const facts = hostFacts([iface('tun0', ['172.16.3.4/16'])], [route('172.16.0.0/16', 'tun0')]);
    assertConfigError(
      () =>
        planHost(
          resolveFans([parseFanWords('-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw-fast'.split(' '))], facts),
          {
            stateDir: '/run/fan',
          },
        ),
      /has no MAC address/,
    );
  });
});

describe('host-gw-fast: diff', () => {
  it('attaches to the bridge after creating it (own clsact) and shares the underlay device’s clsact', () => {
    const ops = diffHost(EMPTY_HOST, planOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw-fast')).map(briefOp);
    const bridge = ops.indexOf('link-add fan-250');
    const attach = ops.indexOf('tc-attach fan-250 own');
    assert.ok(bridge >= 0 && attach > bridge, ops.join('\n'));
    assert.ok(ops.includes('tc-attach eth0 shared'), ops.join('\n'));
  });

  it('switching from host-gw adds only the receiving program where the egress one is attached', () => {
    const current: CurrentHost = {
      ...EMPTY_HOST,
      tcPrograms: [
        {
          dev: 'eth0',
          direction: 'egress',
          progId: 7,
          name: 'fan_hostgw',
          section: 'tc/hostgw',
          overlays: hostGwBackend.devices(fansOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw'))[0]?.overlays,
        },
      ],
    };
    const ops = diffHost(current, planOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw-fast')).map(briefOp);
    assert.ok(ops.includes('tc-attach eth0 shared'), ops.join('\n'));
    assert.ok(ops.includes('tc-attach fan-250 own'), ops.join('\n'));
  });

  it('switching back to host-gw removes only the receiving program: the egress one and the qdisc stay', () => {
    const table = hostGwBackend.devices(fansOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw'))[0]?.overlays;
    const current: CurrentHost = {
      ...EMPTY_HOST,
      tcPrograms: [
        { dev: 'eth0', direction: 'egress', progId: 7, name: 'fan_hostgw', section: 'tc/hostgw', overlays: table },
        { dev: 'eth0', direction: 'ingress', progId: 8, name: 'fan_fp_gw_rx', section: GW_RX_SECTION, overlays: table },
      ],
    };
    const ops = diffHost(current, planOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw'));
    const detach = ops.filter((op) => op.kind === 'tc-detach');
    assert.deepEqual(detach, [
      {
        kind: 'tc-detach',
        dev: 'eth0',
        programs: [{ direction: 'ingress', section: GW_RX_SECTION }],
        qdisc: 'shared',
        keepQdisc: true,
        overlays: table,
      },
    ]);
    assert.ok(!ops.some((op) => op.kind === 'tc-attach' && op.dev === 'eth0'), 'the egress program stays as it is');
  });

  describe("the bridge's programs sit in its tc shared block (the slice's address)", () => {
    const [fan] = fansOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw-fast');
    const plan = planOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw-fast');
    const block = fan?.host.slice.address;
    const bridge = plan.devices.find((d) => d.dev === 'fan-250');
    const table = bridge?.overlays;
    const spec = plan.bridges[0];
    const onBridge = (at?: number): CurrentHost => ({
      ...EMPTY_HOST,
      // The bridge as planned, made by an earlier up.
      links: [
        ...EMPTY_HOST.links,
        {
          ...{ name: 'fan-250', kind: 'bridge', group: FAN_LINK_GROUP, mtu: 1500, up: true },
          ...{ addresses: [...(spec?.addresses ?? [])], alias: spec?.alias ?? '' },
        },
      ],
      tcPrograms: [
        {
          dev: 'fan-250',
          direction: 'ingress',
          progId: 9,
          name: 'fan_fp_gw_tx',
          section: GW_TX_SECTION,
          overlays: table,
          ...(at !== undefined ? { block: at } : {}),
        },
      ],
    });
    const bridgeOps = (current: CurrentHost): Op[] =>
      diffHost(current, plan).filter((op) => 'dev' in op && op.dev === 'fan-250');

    it('planned with the block, and attached into it', () => {
      assert.equal(bridge?.block, block);
      const attach = diffHost(EMPTY_HOST, plan).find((op) => op.kind === 'tc-attach' && op.dev === 'fan-250');
      assert.deepEqual(attach, { kind: 'tc-attach', dev: 'fan-250', programs: bridge?.programs, qdisc: 'own', block });
    });
    it('already in its block: nothing to do', () => {
      assert.deepEqual(bridgeOps(onBridge(block)), []);
    });
    it('attached outside a block (an older fanctl): all off, qdisc included, then on again in the block', () => {
      assert.deepEqual(bridgeOps(onBridge()).map(briefOp), [
        'tc-detach fan-250 own',
        'tc-attach fan-250 own',
        'overlay-table',
      ]);
      const detach = bridgeOps(onBridge()).find((op) => op.kind === 'tc-detach');
      assert.equal(detach?.kind === 'tc-detach' ? detach.keepQdisc : 'missing', undefined);
    });
    it('switched to host-gw: the filter leaves the block it sits in', () => {
      const ops = diffHost(onBridge(block), planOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --type host-gw'));
      const detach = ops.find((op) => op.kind === 'tc-detach' && op.dev === 'fan-250');
      assert.equal(detach?.kind === 'tc-detach' ? detach.block : undefined, block);
    });
  });
});

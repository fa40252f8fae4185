import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFanWords } from '../../core/config/fan-spec.js';
import { type Fan, resolveFans } from '../../core/config/resolve.js';
import type { CurrentHost } from '../../core/model/host-state.js';
import { diffHost } from '../../core/plan/diff.js';
import { planHost } from '../../core/plan/host-plan.js';
import { EMPTY_HOST, briefOp, deviceLines, fansOf, planOf } from '../../testing/dataplane.js';
import { assertConfigError, hostFacts, iface, route } from '../../testing/builders.js';
import { overlayEntry } from '../overlay-entry.js';
import { backendOf, fanMtu } from '../registry.js';
import { TUNNEL_DEVICE, vxlanBackend } from '../vxlan/backend.js';
import { FAST_RX_SECTION, FAST_TX_SECTION, vxlanFastBackend } from './backend.js';

describe('vxlan-fast backend', () => {
  it('is selected by --type vxlan-fast, with the vxlan MTU and the tunnel as the peer device', () => {
    const [fan] = fansOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --type vxlan-fast');
    assert.ok(fan);
    assert.equal(backendOf(fan), vxlanFastBackend);
    assert.equal(fanMtu(fan), 1450);
    assert.equal(vxlanFastBackend.peerDevice(fan), TUNNEL_DEVICE);
    assert.deepEqual(vxlanFastBackend.counterDevices?.(fan), [TUNNEL_DEVICE, 'fan-250', 'eth0']);
  });

  it('keeps the vxlan tunnel as the fallback, adds one program per bridge and per underlay device', () => {
    const p = planOf(
      '-o 250.0.0.0/8 -u 172.16.0.0/16 --type vxlan-fast',
      '-o 251.0.0.0/8 -u 172.16.0.0/16 --type vxlan-fast',
    );
    assert.deepEqual(deviceLines(p), [
      'fan-vxlan egress:tc/egress,ingress:tc/ingress 2',
      `fan-250 ingress:${FAST_TX_SECTION} 2`,
      `fan-251 ingress:${FAST_TX_SECTION} 2`,
      `eth0 ingress:${FAST_RX_SECTION} 2`,
    ]);
    // The route and FORWARD accept are vxlan's: the kernel path is unchanged.
    assert.deepEqual(
      p.routes.map((r) => r.dev),
      ['fan-vxlan', 'fan-vxlan'],
    );
    assert.equal(p.nat?.tunnel, TUNNEL_DEVICE);
  });

  it('the same tunnel as a vxlan fan of the same overlay (the wire format is the same)', () => {
    const [fast] = fansOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --type vxlan-fast');
    const [slow] = fansOf('-o 250.0.0.0/8 -u 172.16.0.0/16');
    assert.ok(fast && slow);
    assert.deepEqual(vxlanFastBackend.devices([fast])[0], vxlanBackend.devices([slow])[0]);
  });

  it('state does not grow with the number of hosts: a /16 underlay plans what a /24 does', () => {
    const wide = planOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --type vxlan-fast');
    const facts24 = hostFacts(
      [iface('eth0', ['172.16.3.4/24'], { mac: '02:00:ac:10:03:04' })],
      [route('172.16.3.0/24', 'eth0')],
    );
    const narrow = planHost(
      resolveFans([parseFanWords('-o 250.0.0.0/8 -u 172.16.3.0/24 --type vxlan-fast'.split(' '))], facts24),
      { stateDir: '/run/fan' },
    );
    assert.deepEqual(deviceLines(wide), deviceLines(narrow));
  });

  it('shares the tunnel with a vxlan fan: one device, both tables, largest MTU', () => {
    const both = fansOf('-o 250.0.0.0/8 -u 172.16.0.0/16', '-o 240.0.0.0/8 -u 10.99.0.0/16 --type vxlan-fast');
    const p = planHost(both, { stateDir: '/run/fan' });
    const tunnels = p.devices.filter((d) => d.dev === TUNNEL_DEVICE);
    assert.equal(tunnels.length, 1);
    assert.deepEqual(
      tunnels[0]?.overlays,
      both.map((f) => overlayEntry(f)),
    );
    assert.equal(tunnels[0]?.link?.mtu, 8950);
    // The fast path maps only its own overlay: the vxlan fan keeps the kernel path.
    assert.deepEqual(p.devices.find((d) => d.dev === 'eth1')?.overlays, [overlayEntry(both[1] as Fan)]);
  });

  it('refuses a host-gw fan on the same underlay device (both need its programs)', () => {
    assertConfigError(
      () =>
        planOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --type vxlan-fast', '-o 240.0.0.0/8 -u 172.16.0.0/16 --type host-gw'),
      /both need eth0 for their eBPF programs/,
    );
  });
});

describe('vxlan-fast: diff', () => {
  it('attaches to the bridge the same run creates, after creating it, with a qdisc of its own', () => {
    const ops = diffHost(EMPTY_HOST, planOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --type vxlan-fast')).map(briefOp);
    const bridge = ops.indexOf('link-add fan-250');
    const attach = ops.indexOf('tc-attach fan-250 own');
    assert.ok(bridge >= 0 && attach > bridge, ops.join('\n'));
    assert.ok(ops.includes('tc-attach eth0 shared'), 'the underlay device is the host’s: clsact shared');
    assert.ok(ops.includes('tc-attach fan-vxlan own'));
  });

  it('removes its programs from the underlay device when the fan goes', () => {
    const current: CurrentHost = {
      ...EMPTY_HOST,
      tcPrograms: [{ dev: 'eth0', direction: 'ingress', progId: 7, name: 'fan_fp_rx', section: FAST_RX_SECTION }],
    };
    assert.deepEqual(diffHost(current, planHost([], { stateDir: '/run/fan' })).map(briefOp), ['tc-detach eth0 shared']);
  });
});

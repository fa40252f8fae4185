import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIpv4 } from '../address/ipv4.js';
import { parseFanWords } from '../config/fan-spec.js';
import { type Fan, resolveFans } from '../config/resolve.js';
import { ConfigError } from '../errors.js';
import type { InterfaceFacts } from '../model/host-facts.js';
import { cidrOf, hostFacts, iface, typicalHost } from '../../testing/builders.js';
import { HOST_VETH, cniAlias, cniOwner, containerIdOfOwner, hostVethName, parseCniAlias } from './names.js';
import { FanNotUpError, attachmentProblems, planAttachment, requireBridge, selectFan } from './plan.js';

function fans(...lines: string[]): Fan[] {
  return resolveFans(
    lines.map((l) => parseFanWords(l.split(' '))),
    typicalHost(),
  );
}

describe('attachment names', () => {
  it('host veth names are deterministic, short and fan-looking', () => {
    const a = hostVethName('abc', 'eth0');
    assert.equal(a, hostVethName('abc', 'eth0'));
    assert.notEqual(a, hostVethName('abc', 'eth1'));
    assert.notEqual(a, hostVethName('abd', 'eth0'));
    assert.match(a, HOST_VETH);
    assert.ok(a.length <= 15);
  });

  it('aliases round-trip and name their owner', () => {
    const alias = cniAlias({ network: 'fan-250', containerId: 'c1', ifname: 'eth0' });
    assert.equal(alias, 'fan: cni fan-250 c1 eth0');
    assert.deepEqual(parseCniAlias(alias), { network: 'fan-250', containerId: 'c1', ifname: 'eth0' });
    assert.equal(parseCniAlias('fan: bridge of fan 250.0.0.0/8'), undefined);
    assert.equal(parseCniAlias(undefined), undefined);
    assert.equal(containerIdOfOwner('net', cniOwner('net', 'c9')), 'c9');
    assert.equal(containerIdOfOwner('other', cniOwner('net', 'c9')), undefined);
  });
});

describe('selectFan', () => {
  const two = fans('-o 250.0.0.0/8 -u 172.16.0.0/16', '-o 251.0.0.0/8 -u 172.16.0.0/16 --bridge fanb');

  it('defaults to the first fan and finds others by overlay or bridge', () => {
    assert.equal(selectFan(two, {}).bridge, 'fan-250');
    assert.equal(selectFan(two, { overlay: '251.0.0.0/8' }).bridge, 'fanb');
    assert.equal(selectFan(two, { overlay: '251' }).bridge, 'fanb');
    assert.equal(selectFan(two, { bridge: 'fanb' }).bridge, 'fanb');
  });

  it('says which fans are up when the wanted one is not', () => {
    assert.throws(
      () => selectFan(two, { overlay: '240.0.0.0/8' }),
      (e: unknown) =>
        e instanceof FanNotUpError &&
        !e.damaged &&
        /fans up here: 250\.0\.0\.0\/8 on fan-250, 251\.0\.0\.0\/8 on fanb/.test(e.hint ?? ''),
    );
    assert.throws(
      () => selectFan([], {}),
      (e: unknown) => e instanceof FanNotUpError && e.message === 'no fan is up on this host (wanted any fan)',
    );
    assert.throws(() => selectFan(two, { overlay: '250.0.0.0/8', bridge: 'fanb' }), ConfigError);
    assert.throws(() => selectFan(two, { overlay: 'nonsense' }), ConfigError);
  });
});

describe('requireBridge', () => {
  const [fan] = fans('-o 250.0.0.0/8 -u 172.16.0.0/16');
  assert.ok(fan);
  const bridge = (extra: Partial<InterfaceFacts>): InterfaceFacts =>
    iface('fan-250', ['250.3.4.1/24'], { alias: 'fan: bridge', kind: 'bridge', ...extra });

  it("accepts fan's bridge when it is up", () => {
    assert.equal(requireBridge(fan, hostFacts([bridge({})])).name, 'fan-250');
  });

  it('reports a missing, foreign or down bridge as damage', () => {
    for (const [facts, why] of [
      [hostFacts([]), /is missing/],
      [hostFacts([bridge({ alias: 'docker' })]), /is not fan's/],
      [hostFacts([bridge({ up: false })]), /is down/],
    ] as const) {
      assert.throws(
        () => requireBridge(fan, facts),
        (e: unknown) => e instanceof FanNotUpError && e.damaged && why.test(e.message),
      );
    }
  });
});

describe('planAttachment', () => {
  const [fan] = fans('-o 250.0.0.0/8 -u 172.16.0.0/16');
  assert.ok(fan);
  const req = { network: 'fan-250', containerId: 'c1', netns: '/var/run/netns/x', ifname: 'eth0' };

  it('uses the slice prefix, the bridge gateway and the fan MTU', () => {
    const plan = planAttachment(fan, { address: parseIpv4('250.3.4.9') }, req);
    assert.deepEqual(plan, {
      bridge: 'fan-250',
      netns: '/var/run/netns/x',
      ifname: 'eth0',
      hostIf: hostVethName('c1', 'eth0'),
      alias: 'fan: cni fan-250 c1 eth0',
      mtu: 8950,
      address: cidrOf('250.3.4.9/24'),
      gateway: parseIpv4('250.3.4.1'),
    });
  });

  it('accepts a smaller MTU and refuses a larger one', () => {
    assert.equal(planAttachment(fan, { address: 1 }, { ...req, mtu: 1400 }).mtu, 1400);
    assert.throws(
      () => planAttachment(fan, { address: 1 }, { ...req, mtu: 9000 }),
      /mtu 9000 is not usable on fan-250/,
    );
    assert.throws(() => planAttachment(fan, { address: 1 }, { ...req, network: 'n'.repeat(250) }), /too long/);
  });
});

describe('attachmentProblems', () => {
  const expected = {
    bridge: 'fan-250',
    ifname: 'eth0',
    hostIf: 'fan12345678',
    addresses: [cidrOf('250.3.4.9/24')],
    gateway: parseIpv4('250.3.4.1'),
    mtu: 1450,
  };
  const good = {
    container: iface('eth0', ['250.3.4.9/24'], { mtu: 1450 }),
    containerRoutes: [{ dst: cidrOf('0.0.0.0/0'), gateway: parseIpv4('250.3.4.1'), dev: 'eth0' }],
    host: iface('fan12345678', [], { master: 'fan-250' }),
    lease: { address: parseIpv4('250.3.4.9') },
  };

  it('is empty when everything matches', () => {
    assert.deepEqual(attachmentProblems(expected, good), []);
  });

  it('lists every difference', () => {
    const problems = attachmentProblems(expected, {
      container: iface('eth0', ['250.3.4.8/24'], { mtu: 1500, up: false }),
      containerRoutes: [],
      host: iface('fan12345678', [], { master: 'br0' }),
      lease: { address: parseIpv4('250.3.4.8') },
    });
    assert.deepEqual(problems, [
      'interface eth0 is down',
      'address 250.3.4.9/24 is missing on eth0 (has 250.3.4.8/24)',
      'eth0 has MTU 1500, expected 1450',
      'the container has no default route via 250.3.4.1',
      'host interface fan12345678 is on br0, expected fan-250',
      'the IPAM leased 250.3.4.8, but the attachment has 250.3.4.9/24',
    ]);
    assert.deepEqual(attachmentProblems(expected, { containerRoutes: [] }), [
      'interface eth0 is missing in the container',
      'the container has no default route via 250.3.4.1',
      'host interface fan12345678 is missing',
      'the IPAM holds no lease for this attachment',
    ]);
  });
});

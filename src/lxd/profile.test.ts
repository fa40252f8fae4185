import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFanWords } from '../core/config/fan-spec.js';
import { resolveFans } from '../core/config/resolve.js';
import type { LxdProfileInfo } from '../ports/lxd.js';
import { assertConfigError } from '../testing/builders.js';
import { instanceOfPath, lxdProfile, planDisable, planEnable } from './profile.js';
import { lxcNetConfig, lxcOwner, renderLxcConfig } from './lxc-config.js';

const facts = {
  interfaces: [
    { name: 'eth0', mtu: 1500, up: true, addresses: [{ address: 0xac100304, prefix: 16 }], mac: '52:54:00:12:34:56' },
  ],
  routes: [],
};

const fan = (words: string) => {
  const [resolved] = resolveFans([parseFanWords(words.split(' '))], facts);
  assert.ok(resolved);
  return resolved;
};

describe('lxdProfile', () => {
  it('renders a bridged NIC on the fan bridge with the fan MTU', () => {
    const profile = lxdProfile(fan('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp'));
    assert.equal(profile.name, 'fan-250');
    assert.deepEqual(profile.warnings, []);
    assert.equal(
      profile.yaml,
      [
        'name: fan-250',
        'description: "Fan 250.0.0.0/8 over 172.16.0.0/16: slice 250.3.4.0/24, gateway 250.3.4.1, ' +
          'DHCP 250.3.4.128-250.3.4.254 (made by fanctl)"',
        'config: {}',
        'devices:',
        '  eth0:',
        '    name: eth0',
        '    type: nic',
        '    nictype: bridged',
        '    parent: fan-250',
        '    mtu: "1450"',
        '',
      ].join('\n'),
    );
  });

  it('uses the full underlay MTU for host-gw and the bridge given with --bridge', () => {
    const profile = lxdProfile(fan('-o 251.0.0.0/8 -u eth0/16 --dhcp --bridge lxdfan --type host-gw'), 'myprofile');
    assert.match(profile.yaml, /^name: myprofile$/m);
    assert.match(profile.yaml, /^ {4}parent: lxdfan$/m);
    assert.match(profile.yaml, /^ {4}mtu: "1500"$/m);
  });

  it('warns when the fan serves no DHCP, with the command that fixes it', () => {
    const profile = lxdProfile(fan('-o 250.0.0.0/8 -u 172.16.0.0/16'));
    assert.equal(profile.warnings.length, 1);
    assert.match(profile.warnings[0] ?? '', /fanctl up -o 250\.0\.0\.0\/8 -u 172\.16\.0\.0\/16 --dhcp/);
  });
});

const info = (p: Partial<LxdProfileInfo> & { name: string }): LxdProfileInfo => ({
  description: '',
  config: {},
  devices: {},
  usedBy: [],
  ...p,
});

describe('planEnable / planDisable', () => {
  const desired = lxdProfile(fan('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp'));
  it("creates then edits a missing profile with the printer's YAML", () => {
    const plan = planEnable(desired, [info({ name: 'default' })]);
    assert.equal(plan.outcome, 'created');
    assert.deepEqual(plan.steps, [
      { kind: 'create', name: 'fan-250' },
      { kind: 'edit', name: 'fan-250', yaml: desired.yaml },
    ]);
  });
  it('changes nothing when the profile already matches (idempotent)', () => {
    const plan = planEnable(desired, [
      info({ name: 'fan-250', description: desired.description, devices: { eth0: { ...desired.device } } }),
    ]);
    assert.deepEqual([plan.outcome, plan.steps], ['unchanged', []]);
  });
  it('updates eth0 and the description of an existing profile, keeping its config and other devices', () => {
    const plan = planEnable(desired, [
      info({
        name: 'fan-250',
        config: { 'limits.cpu': '1' },
        devices: {
          eth0: { type: 'nic', nictype: 'bridged', parent: 'old', name: 'eth0' },
          data: { type: 'disk', path: '/d', source: '/s' },
        },
      }),
    ]);
    assert.equal(plan.outcome, 'updated');
    const step = plan.steps[0];
    assert.ok(step?.kind === 'edit');
    const merged = JSON.parse(step.yaml) as {
      config: Record<string, string>;
      devices: Record<string, Record<string, string>>;
    };
    assert.deepEqual(merged.config, { 'limits.cpu': '1' });
    assert.equal(merged.devices.eth0?.parent, 'fan-250');
    assert.equal(merged.devices.eth0?.mtu, '1450');
    assert.equal(merged.devices.data?.source, '/s');
  });
  it('disable: absent is fine, in use is refused unless forced, foreign profiles are refused unless forced', () => {
    assert.equal(planDisable('fan-250', [], false).outcome, 'absent');
    const used = info({
      name: 'fan-250',
      description: desired.description,
      usedBy: ['/1.0/instances/c1', '/1.0/instances/c2?project=p'],
    });
    assertConfigError(
      () => planDisable('fan-250', [used], false),
      'LXD profile fan-250 is used by 2 instance(s): c1, c2',
      /--force/,
    );
    assert.deepEqual(planDisable('fan-250', [used], true), {
      profile: 'fan-250',
      detach: ['c1', 'c2'],
      remove: true,
      outcome: 'removed',
    });
    assertConfigError(
      () => planDisable('fan-250', [info({ name: 'fan-250', description: 'mine' })], false),
      /was not made by fanctl/,
    );
    assert.equal(instanceOfPath('/1.0/instances/a%20b'), 'a b');
  });
});

describe('lxcNetConfig', () => {
  it('DHCP: veth on the fan bridge, up, the fan MTU, no address lines', () => {
    const f = fan('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp');
    const c = lxcNetConfig(f);
    assert.deepEqual(c.entries, [
      ['lxc.net.0.type', 'veth'],
      ['lxc.net.0.link', 'fan-250'],
      ['lxc.net.0.flags', 'up'],
      ['lxc.net.0.name', 'eth0'],
      ['lxc.net.0.mtu', '1450'],
    ]);
    assert.deepEqual(c.warnings, []);
    assert.match(
      renderLxcConfig(c, f),
      /^# fan 250\.0\.0\.0\/8 on fan-250, MTU 1450; address: DHCP from the .+ dnsmasq \(250\.3\.4\.128-[\d.]+\)\nlxc/,
    );
  });
  it('static: ipv4.address with the slice prefix and ipv4.gateway; no DHCP and no address warns', () => {
    const f = fan('-o 250.0.0.0/8 -u 172.16.0.0/16');
    const c = lxcNetConfig(f, 0xfa030407);
    assert.deepEqual(c.entries.slice(-2), [
      ['lxc.net.0.ipv4.address', '250.3.4.7/24'],
      ['lxc.net.0.ipv4.gateway', '250.3.4.1'],
    ]);
    assert.equal(lxcNetConfig(f).warnings.length, 1);
    assert.equal(lxcOwner('c1'), 'lxc:c1');
    assertConfigError(() => lxcOwner('a/b'), /is not an LXC container name/);
  });
});

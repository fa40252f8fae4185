import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFanWords } from '../core/config/fan-spec.js';
import { resolveFans } from '../core/config/resolve.js';
import { lxdProfile } from './profile.js';

const facts = {
  interfaces: [{ name: 'eth0', mtu: 1500, up: true, addresses: [{ address: 0xac100304, prefix: 16 }], mac: '52:54:00:12:34:56' }],
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
        'description: "Fan 250.0.0.0/8 over 172.16.0.0/16: slice 250.3.4.0/24, gateway 250.3.4.1 (made by fanctl lxd-profile)"',
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

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFanWords } from '../core/config/fan-spec.js';
import { type Fan, resolveFans } from '../core/config/resolve.js';
import { ConfigError } from '../core/errors.js';
import { typicalHost } from '../testing/builders.js';
import { dockerBridgeConfig, renderDockerConfig } from './config.js';

function fan(words: string): Fan {
  const [f] = resolveFans([parseFanWords(words.split(' '))], typicalHost());
  assert.ok(f);
  return f;
}

describe('fanctl docker-config (bridge driver on the fan bridge)', () => {
  it(`renders the network create command for this host's slice, gateway = bridge address, fan MTU, \
no masquerade`, () => {
    const c = dockerBridgeConfig(fan('-o 250.0.0.0/8 -u 172.16.0.0/16'));
    assert.deepEqual(c.argv, [
      'docker',
      'network',
      'create',
      '--driver',
      'bridge',
      '--subnet',
      '250.3.4.0/24',
      '--ip-range',
      '250.3.4.0/24',
      '--gateway',
      '250.3.4.1',
      '-o',
      'com.docker.network.bridge.name=fan-250',
      '-o',
      'com.docker.network.driver.mtu=8950',
      '-o',
      'com.docker.network.bridge.inhibit_ipv4=true',
      '-o',
      'com.docker.network.bridge.enable_ip_masquerade=false',
      'fan',
    ]);
    assert.equal(c.command, c.argv.join(' '));
    assert.equal(c.firstAddress, '250.3.4.2');
    assert.deepEqual(c.auxAddresses, {});
    assert.equal(c.mtu, 8950);
    const text = renderDockerConfig(c);
    assert.ok(text.endsWith(`${c.command}\n`));
    assert.match(text, /^# Containers on network fan get 250\.3\.4\.2 onwards from slice 250\.3\.4\.0\/24/);
    assert.match(
      text,
      /# With Docker's iptables on: .*FORWARD policy DROP.*"-s 250\.3\.4\.0\/24 ! -o fan-250 -j MASQUERADE"/,
    );
    for (const line of text.trim().split('\n').slice(0, -1)) assert.ok(line.startsWith('# '), `comment: ${line}`);
  });

  it('excludes the rest of the host reserve with --aux-address and names the network', () => {
    const c = dockerBridgeConfig(fan('-o 250.0.0.0/8 -u 172.16.0.0/16 --host-reserve 3 --bridge fanbr'), 'fan-net');
    assert.deepEqual(c.auxAddresses, { host2: '250.3.4.2', host3: '250.3.4.3' });
    assert.ok(c.command.includes('--aux-address host2=250.3.4.2 --aux-address host3=250.3.4.3'));
    assert.ok(c.command.includes('com.docker.network.bridge.name=fanbr'));
    assert.ok(c.command.endsWith(' fan-net'));
    assert.equal(c.firstAddress, '250.3.4.4');
    assert.match(c.notes.join('\n'), /--aux-address keeps the host reserve \(250\.3\.4\.2–250\.3\.4\.3\)/);
  });

  it('on a DHCP fan, keeps Docker inside the static share: --ip-range is the lower half of the slice', () => {
    const c = dockerBridgeConfig(fan('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp'));
    assert.equal(c.ipRange, '250.3.4.0/25');
    assert.ok(c.command.includes('--subnet 250.3.4.0/24 --ip-range 250.3.4.0/25 --gateway 250.3.4.1'));
    assert.equal(c.firstAddress, '250.3.4.2');
    assert.match(c.notes.join('\n'), /dnsmasq hands out 250\.3\.4\.128-250\.3\.4\.254\./);
  });

  it('with an explicit DHCP range, takes the largest block of the static share and says what it leaves out', () => {
    const c = dockerBridgeConfig(fan('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp-range 250.3.4.100-250.3.4.199'));
    // static share: .2-.99 and .200-.254; the largest DHCP-free block holding static addresses is .0/26
    assert.equal(c.ipRange, '250.3.4.0/26');
    assert.equal(c.firstAddress, '250.3.4.2');
    assert.match(
      c.notes.join('\n'),
      /Docker uses 62 of the 153 static addresses: 250\.3\.4\.2-250\.3\.4\.99, 250\.3\.4\.200-250\.3\.4\.254/,
    );
  });

  it('refuses a fan whose DHCP range holds every container address, and bad names', () => {
    assert.throws(
      () => dockerBridgeConfig(fan('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp-range 253')),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(
          e.message,
          new RegExp(
            /fan 250\.0\.0\.0\/8 leaves no addresses to static allocation on this host: /.source +
              /its DHCP range 250\.3\.4\.2-250\.3\.4\.254 holds every container address/.source,
          ),
        );
        assert.match(e.hint ?? '', /--dhcp-range N/);
        return true;
      },
    );
    assert.throws(
      () => dockerBridgeConfig(fan('-o 250.0.0.0/8 -u 172.16.0.0/16'), 'no spaces'),
      /is not a Docker network name/,
    );
  });
});

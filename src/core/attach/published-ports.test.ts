import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIpv4 } from '../address/ipv4.js';
import { ConfigError } from '../errors.js';
import { type PublishedEndpoint, replacePublished } from './published-ports.js';

const ep = (id: string, ports: PublishedEndpoint['ports']): PublishedEndpoint => ({
  endpointId: id.repeat(64),
  networkId: 'n'.repeat(64),
  address: parseIpv4('250.3.4.2'),
  ports,
});

describe('published ports', () => {
  it("adds, replaces and removes one endpoint's bindings", () => {
    const a = ep('a', [{ proto: 'tcp', hostPort: 8080, port: 80 }]);
    const b = ep('b', [{ proto: 'tcp', hostPort: 8081, port: 80 }]);
    const both = replacePublished(replacePublished([], a.endpointId, a), b.endpointId, b);
    assert.deepEqual(
      both.map((e) => e.endpointId[0]),
      ['a', 'b'],
    );
    const a2 = ep('a', [{ proto: 'udp', hostPort: 8080, port: 80 }]);
    assert.deepEqual(
      replacePublished(both, a.endpointId, a2).map((e) => e.ports[0]?.proto),
      ['tcp', 'udp'],
    );
    assert.deepEqual(replacePublished(both, a.endpointId, undefined), [b]);
    assert.deepEqual(replacePublished(both, a.endpointId, ep('a', [])), [b], 'no ports: no entry');
  });

  it('refuses a host port another endpoint holds (any-address and a specific address overlap)', () => {
    const a = ep('a', [{ proto: 'tcp', hostPort: 8080, port: 80 }]);
    const clash = ep('b', [{ proto: 'tcp', hostPort: 8080, port: 81, hostIp: parseIpv4('172.16.3.4') }]);
    assert.throws(
      () => replacePublished([a], clash.endpointId, clash),
      (e: unknown) =>
        e instanceof ConfigError &&
        /host port 172\.16\.3\.4:8080\/tcp is already published for 250\.3\.4\.2/.test(e.message),
    );
    const udp = ep('b', [{ proto: 'udp', hostPort: 8080, port: 80 }]);
    assert.equal(replacePublished([a], udp.endpointId, udp).length, 2, 'another protocol is another port');
    const twice = ep('c', [
      { proto: 'tcp', hostPort: 9, port: 1 },
      { proto: 'tcp', hostPort: 9, port: 2 },
    ]);
    assert.throws(() => replacePublished([], twice.endpointId, twice), /published twice/);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCidr, parseCidr, parseIpv4 } from '../address/ipv4.js';
import { parseFanWords } from '../config/fan-spec.js';
import { resolveFans } from '../config/resolve.js';
import { allocateAddress } from '../ipam/allocator.js';
import { poolOf, poolSize, restrictPool } from '../ipam/pool.js';
import { typicalHost } from '../../testing/builders.js';
import { ipRangeOf, parsePoolId, poolIdOf } from './pools.js';

const [fan] = resolveFans([parseFanWords('-o 250.0.0.0/8 -u 172.16.0.0/16'.split(' '))], typicalHost());

describe('pools with --ip-range', () => {
  it('the pool id carries the range; the whole slice is the plain pool', () => {
    assert.ok(fan);
    const range = ipRangeOf(fan, parseCidr('250.3.4.128/25'));
    assert.equal(poolIdOf(fan, range), 'fan-250:250.3.4.0/24:250.3.4.128/25');
    assert.equal(ipRangeOf(fan, parseCidr('250.3.4.0/24')), undefined);
    const ref = parsePoolId('fan-250:250.3.4.0/24:250.3.4.128/25');
    assert.equal(ref.bridge, 'fan-250');
    assert.equal(ref.range && formatCidr(ref.range), '250.3.4.128/25');
    assert.equal(parsePoolId('fan-250:250.3.4.0/24').range, undefined);
    assert.throws(() => parsePoolId('fan-250:250.3.4.0/24:x'), /not a fan pool/);
    assert.throws(() => ipRangeOf(fan, parseCidr('250.3.5.0/25')), /not inside this host's slice 250\.3\.4\.0\/24/);
    assert.throws(() => ipRangeOf(fan, parseCidr('250.3.0.0/16')), /not inside/);
  });

  it('a restricted pool allocates only inside the range and names it when a request falls outside', () => {
    assert.ok(fan);
    const pool = restrictPool(poolOf(fan), parseCidr('250.3.4.8/30'));
    assert.equal(poolSize(pool), 4);
    const taken = new Map<number, string>();
    for (let i = 0; i < 4; i++) taken.set(allocateAddress({ pool, taken }), 'x');
    assert.deepEqual(
      [...taken.keys()].sort(),
      ['250.3.4.8', '250.3.4.9', '250.3.4.10', '250.3.4.11'].map(parseIpv4).sort(),
    );
    assert.throws(() => allocateAddress({ pool, taken }), /is full: all 4 container addresses/);
    assert.throws(
      () => allocateAddress({ pool, taken: new Map(), request: parseIpv4('250.3.4.100') }),
      /outside the network's --ip-range 250\.3\.4\.8\/30/,
    );
    const start = restrictPool(poolOf(fan), parseCidr('250.3.4.0/30'));
    assert.equal(poolSize(start), 2, '.0 is the network address and .1 the bridge');
  });
});

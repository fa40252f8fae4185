import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Ipv4, parseCidr, parseIpv4 } from '../address/ipv4.js';
import { allocateAddress } from '../ipam/allocator.js';
import { makePool } from '../ipam/pool.js';
import { parsePolicy } from './parse.js';
import { ungroupedPool } from './group-pool.js';

const ip = parseIpv4;
const pool = makePool({ label: 'fan-250', slice: parseCidr('250.0.27.0/24'), hostReserve: 1 });

describe('ungrouped pool', () => {
  it('hands out no address of an index group', () => {
    const policy = parsePolicy(
      'groups:\n  web: { index: 3-5 }\n  db: { index: 7-8 }\n  ops: { cidr: [10.9.0.0/16] }\n',
    );
    const ungrouped = ungroupedPool(pool, policy);
    assert.ok(ungrouped);
    const taken = new Map<Ipv4, string>();
    const got: number[] = [];
    for (let i = 0; i < 4; i++) {
      const a = allocateAddress({ pool: ungrouped, taken });
      taken.set(a, 'x');
      got.push(a - pool.slice.address);
    }
    assert.deepEqual(got, [2, 6, 9, 10]);
    assert.throws(() => allocateAddress({ pool: ungrouped, taken: new Map(), request: ip('250.0.27.4') }), /group web/);
  });
  it('is the plain pool when the policy has no index group', () => {
    assert.equal(ungroupedPool(pool, parsePolicy('groups:\n  ops: { cidr: [10.9.0.0/16] }\n')), undefined);
  });
});

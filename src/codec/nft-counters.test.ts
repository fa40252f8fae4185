import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeNftCounters } from './nft-counters.js';

describe('decodeNftCounters', () => {
  it('keys each counted rule by chain and comment', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        { table: { family: 'ip', name: 'fan' } },
        {
          rule: {
            family: 'ip',
            table: 'fan',
            chain: 'postrouting',
            comment: 'fan: egress NAT to the underlay address',
            expr: [{ match: {} }, { counter: { packets: 7, bytes: 420 } }, { masquerade: null }],
          },
        },
        { rule: { family: 'ip', table: 'fan', chain: 'forward', comment: 'fan: clamp MSS', expr: [{ mangle: {} }] } },
      ],
    });
    assert.deepEqual([...decodeNftCounters(json)], [['postrouting: fan: egress NAT to the underlay address', 7]]);
    assert.equal(decodeNftCounters('').size, 0);
  });
});

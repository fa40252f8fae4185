import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeNftRuleCounters } from './nft-rule-counters.js';

describe('decodeNftRuleCounters', () => {
  it('reads every rule with a counter, named by its comment', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6', json_schema_version: 1 } },
        { table: { family: 'ip', name: 'fan', handle: 3, comment: 'fan key=abc' } },
        { chain: { family: 'ip', table: 'fan', name: 'postrouting', handle: 1 } },
        {
          rule: {
            family: 'ip',
            table: 'fan',
            chain: 'postrouting',
            handle: 4,
            comment: 'fan: egress NAT to the underlay address',
            expr: [
              { match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '@slices' } },
              { counter: { packets: 7, bytes: 588 } },
              { masquerade: null },
            ],
          },
        },
        {
          rule: {
            family: 'ip',
            table: 'fan',
            chain: 'forward',
            handle: 9,
            expr: [{ counter: { packets: 1, bytes: 84 } }, { drop: null }],
          },
        },
        {
          rule: {
            family: 'ip',
            table: 'fan',
            chain: 'forward',
            handle: 10,
            comment: 'fan: no counter',
            expr: [{ accept: null }],
          },
        },
      ],
    });
    assert.deepEqual(decodeNftRuleCounters(json), [
      { rule: 'egress NAT to the underlay address', packets: 7, bytes: 588 },
      { rule: 'chain forward, handle 9', packets: 1, bytes: 84 },
    ]);
  });
});

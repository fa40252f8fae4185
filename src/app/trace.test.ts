import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Trace } from '../core/trace/path.js';
import { agrees } from './trace.js';

const base: Trace = {
  src: 'a',
  dst: 'b',
  proto: 'icmp',
  kind: 'cross-host',
  crossOverlay: false,
  outcome: 'delivered',
  hops: [],
  expect: { ebpfTx: true, masquerade: false },
};
const tx = [{ counter: 'ebpf fan-vxlan overlay 0: txPackets' }];

describe('agrees', () => {
  it('a delivered path needs an answer and the counters it expects', () => {
    assert.equal(agrees(base, 'delivered', undefined, tx), true);
    assert.equal(agrees(base, 'delivered', undefined, []), false);
    assert.equal(agrees(base, 'dropped', 'beyond', tx), false);
  });
  it('a dropped path needs the probe to stop at the same place', () => {
    const dropped: Trace = { ...base, outcome: 'dropped', stop: { kind: 'underlay-arp', at: 'eth0', reason: '' } };
    assert.equal(agrees(dropped, 'dropped', 'underlay-arp', tx), true);
    assert.equal(agrees(dropped, 'dropped', 'beyond', tx), false);
    assert.equal(agrees(dropped, 'delivered', undefined, tx), false);
  });
  it('an outside path needs the masquerade counter', () => {
    const outside: Trace = {
      ...base,
      kind: 'outside',
      outcome: 'unverified',
      expect: { ebpfTx: false, masquerade: true },
    };
    assert.equal(
      agrees(outside, 'delivered', undefined, [
        { counter: 'nft postrouting: fan: egress NAT to the underlay address' },
      ]),
      true,
    );
    assert.equal(agrees(outside, 'delivered', undefined, []), false);
  });
});

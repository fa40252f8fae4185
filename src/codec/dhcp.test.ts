import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeReply, encodeDiscover } from './dhcp.js';

describe('DHCP codec', () => {
  it('encodes a broadcast DISCOVER', () => {
    const p = encodeDiscover(0x01020304, [0x0e, 0xfa, 0xdd, 1, 2, 3]);
    assert.equal(p.length, 244);
    assert.deepEqual([...p.subarray(0, 3)], [1, 1, 6]);
    assert.deepEqual([...p.subarray(4, 8)], [1, 2, 3, 4]);
    assert.deepEqual([...p.subarray(10, 12)], [0x80, 0]);
    assert.deepEqual([...p.subarray(28, 34)], [0x0e, 0xfa, 0xdd, 1, 2, 3]);
    assert.deepEqual([...p.subarray(236, 244)], [0x63, 0x82, 0x53, 0x63, 53, 1, 1, 255]);
  });
  it('decodes an offer with its server identifier, skipping pad options', () => {
    const r = new Uint8Array(256);
    r[0] = 2;
    r.set([0, 0, 0, 9], 4);
    r.set([250, 0, 11, 98], 16);
    r.set([0x63, 0x82, 0x53, 0x63], 236);
    r.set([0, 53, 1, 2, 54, 4, 250, 0, 11, 1, 255], 240);
    assert.deepEqual(decodeReply(r), { xid: 9, yiaddr: '250.0.11.98', messageType: 2, server: '250.0.11.1' });
  });
  it('rejects what is not a BOOTREPLY', () => {
    assert.equal(decodeReply(encodeDiscover(1, [0, 0, 0, 0, 0, 0])), undefined);
    assert.equal(decodeReply(new Uint8Array(10)), undefined);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIpv4, parseIpv4 } from '../address/ipv4.js';
import { parseFanWords } from '../config/fan-spec.js';
import { resolveFans } from '../config/resolve.js';
import { typicalHost } from '../../testing/builders.js';
import { containerMac, normalizeMac, reservedRanges, withBinding } from './binding.js';

describe('containerMac', () => {
  it('is locally administered, unicast, and carries the address', () => {
    assert.equal(containerMac(parseIpv4('250.3.4.2')), '0a:58:fa:03:04:02');
    const first = parseInt(containerMac(parseIpv4('10.0.0.1')).slice(0, 2), 16);
    assert.equal(first & 0x01, 0, 'unicast');
    assert.equal(first & 0x02, 0x02, 'locally administered');
  });

  it('normalizeMac lower-cases and refuses what nft would not take', () => {
    assert.equal(normalizeMac('0A:58:FA:03:04:02'), '0a:58:fa:03:04:02');
    assert.equal(normalizeMac('0a:58:fa:03:04'), undefined);
    assert.equal(normalizeMac('0a-58-fa-03-04-02'), undefined);
  });
});

describe('reservedRanges', () => {
  it("a fan's network address and host reserve, and its broadcast address", () => {
    const fans = resolveFans(
      [parseFanWords('-o 250.0.0.0/8 -u 172.16.0.0/16 --host-reserve 3'.split(' '))],
      typicalHost(),
    );
    const slice = fans[0]?.host.slice;
    assert.ok(slice);
    const text = reservedRanges(fans).map((r) => `${formatIpv4(r.first)}-${formatIpv4(r.last)}`);
    const base = formatIpv4(slice.address).split('.').slice(0, 3).join('.');
    assert.deepEqual(text, [`${base}.0-${base}.3`, `${base}.255-${base}.255`]);
  });
});

describe('withBinding', () => {
  const a = { port: 'fana', mac: '0a:58:00:00:00:02', addresses: [2] };
  const b = { port: 'fanb', mac: '0a:58:00:00:00:03', addresses: [3] };

  it('replaces the port and any other binding of its address or MAC', () => {
    const next = { port: 'fanc', mac: '0a:58:00:00:00:09', addresses: [3] };
    const r = withBinding([a, b], next);
    assert.deepEqual(r.list, [a, next]);
    assert.deepEqual(r.replaced, [b]);
    const again = withBinding([a, b], { ...a, addresses: [7] });
    assert.deepEqual(again.replaced, [a]);
    assert.equal(again.list.length, 2);
  });
});

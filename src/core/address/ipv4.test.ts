import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { assertConfigError } from '../../testing/builders.js';
import {
  broadcast,
  cidr,
  contains,
  equalCidr,
  formatCidr,
  formatIpv4,
  hostMask,
  isIpv4,
  isNetworkAddress,
  mask,
  network,
  octets,
  overlaps,
  parseCidr,
  parseIpv4,
  parsePrefixLength,
  size,
  u32,
} from './ipv4.js';

const u32Arb = fc.integer({ min: 0, max: 0xffffffff });
const prefixArb = fc.integer({ min: 0, max: 32 });
const cidrArb = fc.record({ address: u32Arb, prefix: prefixArb });

describe('parseIpv4 / formatIpv4', () => {
  it('parses dotted quads into unsigned 32-bit numbers', () => {
    assert.equal(parseIpv4('0.0.0.0'), 0);
    assert.equal(parseIpv4('255.255.255.255'), 0xffffffff);
    assert.equal(parseIpv4('172.16.3.4'), 0xac100304);
    assert.equal(parseIpv4('250.0.0.0'), 4194304000);
    assert.equal(parseIpv4(' 10.0.0.1 '), 0x0a000001);
  });

  it('formats numbers as dotted quads, wrapping to 32 bits', () => {
    assert.equal(formatIpv4(0xac100304), '172.16.3.4');
    assert.equal(formatIpv4(0), '0.0.0.0');
    assert.equal(formatIpv4(0xffffffff), '255.255.255.255');
    assert.equal(formatIpv4(-1), '255.255.255.255');
    assert.deepEqual(octets(0xfa010203), [250, 1, 2, 3]);
  });

  for (const bad of [
    '',
    ' ',
    '1.2.3',
    '1.2.3.4.5',
    '256.0.0.1',
    '1.2.3.256',
    '01.2.3.4',
    '1.2.3.-1',
    'a.b.c.d',
    '1.2.3.4/8',
    '1..2.3',
    '1.2.3.4.',
    '0x1.2.3.4',
    '1e2.0.0.0',
  ]) {
    it(`rejects ${JSON.stringify(bad)} with a message naming it`, () => {
      assertConfigError(
        () => parseIpv4(bad),
        `"${bad}" is not an IPv4 address`,
        'write it as four decimal octets, e.g. 172.16.3.4',
      );
      assert.equal(isIpv4(bad), false);
    });
  }

  it('isIpv4 accepts valid addresses', () => {
    assert.equal(isIpv4('192.168.1.20'), true);
  });

  it('round-trips every u32 (property)', () => {
    fc.assert(fc.property(u32Arb, (n) => parseIpv4(formatIpv4(n)) === n));
  });

  it('round-trips every canonical dotted quad (property)', () => {
    const octet = fc.integer({ min: 0, max: 255 });
    fc.assert(
      fc.property(fc.tuple(octet, octet, octet, octet), (parts) => {
        const text = parts.join('.');
        return formatIpv4(parseIpv4(text)) === text;
      }),
    );
  });
});

describe('mask / hostMask', () => {
  it('covers the edges 0 and 32', () => {
    assert.equal(mask(0), 0);
    assert.equal(mask(32), 0xffffffff);
    assert.equal(hostMask(0), 0xffffffff);
    assert.equal(hostMask(32), 0);
  });

  it('computes the usual masks as unsigned numbers', () => {
    assert.equal(mask(1), 0x80000000);
    assert.equal(mask(8), 0xff000000);
    assert.equal(mask(10), 0xffc00000);
    assert.equal(mask(20), 0xfffff000);
    assert.equal(mask(31), 0xfffffffe);
    assert.equal(hostMask(16), 0x0000ffff);
    assert.equal(hostMask(24), 0xff);
  });

  for (const bad of [-1, 33, 1.5, Number.NaN]) {
    it(`refuses prefix ${bad}`, () => {
      assertConfigError(() => mask(bad), `prefix length "${bad}" is out of range`, 'use a whole number from 0 to 32');
      assertConfigError(() => cidr(0, bad), `prefix length "${bad}" is out of range`);
    });
  }

  it('mask and hostMask partition the 32 bits (property)', () => {
    fc.assert(
      fc.property(prefixArb, (p) => {
        assert.equal(u32(mask(p) & hostMask(p)), 0);
        assert.equal(u32(mask(p) | hostMask(p)), 0xffffffff);
        assert.equal(hostMask(p), 2 ** (32 - p) - 1);
      }),
    );
  });
});

describe('parsePrefixLength / parseCidr', () => {
  it('parses lengths 0 to 32', () => {
    assert.equal(parsePrefixLength('0'), 0);
    assert.equal(parsePrefixLength('16'), 16);
    assert.equal(parsePrefixLength('32'), 32);
  });

  for (const bad of ['', 'a', '123', '-1', '1.5', ' 8', '+8']) {
    it(`refuses non-number length ${JSON.stringify(bad)}`, () => {
      assertConfigError(
        () => parsePrefixLength(bad),
        `prefix length "${bad}" is not a number`,
        'use a whole number from 0 to 32, e.g. /16',
      );
    });
  }

  for (const bad of ['33', '99']) {
    it(`refuses out-of-range length ${bad}`, () => {
      assertConfigError(() => parsePrefixLength(bad), `prefix length "${bad}" is out of range`);
    });
  }

  it('keeps host bits of an interface address', () => {
    assert.deepEqual(parseCidr('172.16.3.4/16'), { address: 0xac100304, prefix: 16 });
    assert.deepEqual(parseCidr('0.0.0.0/0'), { address: 0, prefix: 0 });
  });

  it('refuses text without a slash', () => {
    assertConfigError(
      () => parseCidr('10.0.0.0'),
      '"10.0.0.0" is not a CIDR prefix',
      'write ADDRESS/LENGTH, e.g. 250.0.0.0/8',
    );
  });

  it('reports the bad part of a CIDR', () => {
    assertConfigError(() => parseCidr('10.0.0/8'), '"10.0.0" is not an IPv4 address');
    assertConfigError(() => parseCidr('10.0.0.0/'), 'prefix length "" is not a number');
    assertConfigError(() => parseCidr('10.0.0.0/33'), 'prefix length "33" is out of range');
    assertConfigError(() => parseCidr('10.0.0.0/8/9'), 'prefix length "8/9" is not a number');
  });

  it('round-trips every Cidr (property)', () => {
    fc.assert(
      fc.property(cidrArb, (c) => assert.deepEqual(parseCidr(formatCidr(c)), { address: c.address, prefix: c.prefix })),
    );
  });
});

describe('network / broadcast / size', () => {
  it('computes them for a /16 interface address', () => {
    const c = parseCidr('172.16.3.4/16');
    assert.equal(formatCidr(network(c)), '172.16.0.0/16');
    assert.equal(formatIpv4(broadcast(c)), '172.16.255.255');
    assert.equal(size(c), 65536);
    assert.equal(isNetworkAddress(c), false);
    assert.equal(isNetworkAddress(network(c)), true);
  });

  it('handles /0, /31 and /32', () => {
    assert.equal(formatCidr(network(parseCidr('1.2.3.4/0'))), '0.0.0.0/0');
    assert.equal(broadcast(parseCidr('1.2.3.4/0')), 0xffffffff);
    assert.equal(size(parseCidr('0.0.0.0/0')), 2 ** 32);
    assert.equal(formatCidr(network(parseCidr('10.0.0.7/31'))), '10.0.0.6/31');
    assert.equal(formatIpv4(broadcast(parseCidr('10.0.0.6/31'))), '10.0.0.7');
    assert.equal(size(parseCidr('10.0.0.6/31')), 2);
    assert.equal(formatCidr(network(parseCidr('10.0.0.7/32'))), '10.0.0.7/32');
    assert.equal(formatIpv4(broadcast(parseCidr('10.0.0.7/32'))), '10.0.0.7');
    assert.equal(size(parseCidr('10.0.0.7/32')), 1);
    assert.equal(isNetworkAddress(parseCidr('10.0.0.7/32')), true);
  });

  it('size = broadcast - network + 1 (property)', () => {
    fc.assert(fc.property(cidrArb, (c) => broadcast(c) - network(c).address + 1 === size(c)));
  });

  it('cidr() normalises the address to u32 and keeps the prefix', () => {
    assert.deepEqual(cidr(-1, 32), { address: 0xffffffff, prefix: 32 });
    assert.equal(equalCidr(cidr(0xac100304, 16), parseCidr('172.16.3.4/16')), true);
    assert.equal(equalCidr(parseCidr('172.16.3.4/16'), parseCidr('172.16.0.0/16')), false);
    assert.equal(equalCidr(parseCidr('172.16.0.0/16'), parseCidr('172.16.0.0/17')), false);
  });
});

describe('contains / overlaps', () => {
  it('contains tests membership against the network, ignoring host bits of the prefix', () => {
    const c = parseCidr('172.16.3.4/16');
    assert.equal(contains(c, parseIpv4('172.16.0.0')), true);
    assert.equal(contains(c, parseIpv4('172.16.255.255')), true);
    assert.equal(contains(c, parseIpv4('172.17.0.0')), false);
    assert.equal(contains(c, parseIpv4('172.15.255.255')), false);
    assert.equal(contains(parseCidr('0.0.0.0/0'), parseIpv4('255.255.255.255')), true);
    assert.equal(contains(parseCidr('10.0.0.7/32'), parseIpv4('10.0.0.7')), true);
    assert.equal(contains(parseCidr('10.0.0.7/32'), parseIpv4('10.0.0.6')), false);
  });

  it('overlaps is true for nested and equal prefixes, false for disjoint ones', () => {
    assert.equal(overlaps(parseCidr('10.0.0.0/8'), parseCidr('10.1.0.0/16')), true);
    assert.equal(overlaps(parseCidr('10.1.0.0/16'), parseCidr('10.0.0.0/8')), true);
    assert.equal(overlaps(parseCidr('10.1.0.0/16'), parseCidr('10.1.0.0/16')), true);
    assert.equal(overlaps(parseCidr('10.1.0.0/16'), parseCidr('10.2.0.0/16')), false);
    assert.equal(overlaps(parseCidr('250.0.0.0/8'), parseCidr('240.0.0.0/4')), true);
    assert.equal(overlaps(parseCidr('250.0.0.0/8'), parseCidr('224.0.0.0/4')), false);
    assert.equal(overlaps(parseCidr('0.0.0.0/0'), parseCidr('1.2.3.4/32')), true);
  });

  it('contains agrees with the numeric range (property)', () => {
    fc.assert(
      fc.property(cidrArb, u32Arb, (c, x) => contains(c, x) === (x >= network(c).address && x <= broadcast(c))),
    );
  });

  it('overlaps agrees with range intersection and is symmetric (property)', () => {
    fc.assert(
      fc.property(cidrArb, cidrArb, (a, b) => {
        const intersect = network(a).address <= broadcast(b) && network(b).address <= broadcast(a);
        return overlaps(a, b) === intersect && overlaps(b, a) === intersect;
      }),
    );
  });
});

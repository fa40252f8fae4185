import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type Ipv4,
  contains,
  formatCidr,
  formatIpv4,
  hostMask,
  mask,
  overlaps,
  parseIpv4,
  size,
  u32,
} from '../address/ipv4.js';
import { assertConfigError, cidrOf } from '../../testing/builders.js';
import {
  type FanMap,
  RESERVED_OVERLAYS,
  belongsTo,
  bridgeNameOf,
  checkDistinctOverlays,
  checkHost,
  defineFan,
  describeHost,
  findFan,
  hostBits,
  sameFan,
  shiftOf,
  sliceOf,
  underlayHostOf,
  vniOf,
} from './fan.js';

/** The fan of `overlay` over the underlay network that holds `hostCidr`, and that host's address. */
function setup(overlay: string, hostCidr: string): { map: FanMap; host: Ipv4 } {
  const h = cidrOf(hostCidr);
  return { map: defineFan(cidrOf(overlay), h), host: h.address };
}

describe('worked examples of docs/mapping.md', () => {
  const table: readonly [overlay: string, host: string, slice: string][] = [
    ['250.0.0.0/8', '172.16.3.4/16', '250.3.4.0/24'],
    ['99.0.0.0/8', '10.99.238.5/20', '99.224.80.0/20'],
    ['250.0.0.0/8', '192.168.1.20/24', '250.20.0.0/16'],
    ['250.1.0.0/16', '192.168.1.20/24', '250.1.20.0/24'],
  ];
  for (const [overlay, host, slice] of table) {
    it(`${overlay} with host ${host} owns ${slice}`, () => {
      const s = setup(overlay, host);
      assert.equal(formatCidr(sliceOf(s.map, s.host)), slice);
      // and every address of that slice maps back to the host
      const c = sliceOf(s.map, s.host);
      assert.equal(underlayHostOf(s.map, c.address), s.host);
      assert.equal(underlayHostOf(s.map, c.address + size(c) - 1), s.host);
    });
  }

  it('transmit: 99.6.7.8 with 99.0.0.0/8 over 10.88.0.0/16 goes to 10.88.6.7', () => {
    const map = defineFan(cidrOf('99.0.0.0/8'), cidrOf('10.88.0.0/16'));
    assert.equal(formatIpv4(underlayHostOf(map, parseIpv4('99.6.7.8'))), '10.88.6.7');
  });

  it('transmit: 100.66.200.5 with 100.64.0.0/10 over 10.224.220.0/24 goes to 10.224.220.11', () => {
    const map = defineFan(cidrOf('100.64.0.0/10'), cidrOf('10.224.220.0/24'));
    assert.equal(formatIpv4(underlayHostOf(map, parseIpv4('100.66.200.5'))), '10.224.220.11');
  });

  it('transmit drops the container index: every address of 250.3.4.0/24 goes to 172.16.3.4', () => {
    const map = defineFan(cidrOf('250.0.0.0/8'), cidrOf('172.16.0.0/16'));
    for (const a of ['250.3.4.0', '250.3.4.1', '250.3.4.7', '250.3.4.255']) {
      assert.equal(formatIpv4(underlayHostOf(map, parseIpv4(a))), '172.16.3.4');
    }
    assert.equal(formatIpv4(underlayHostOf(map, parseIpv4('250.3.5.0'))), '172.16.3.5');
  });

  it('describeHost derives gateway, usable range, size (254 usable for /8 over /16) and VNI', () => {
    const s = setup('250.0.0.0/8', '172.16.3.4/16');
    const d = describeHost(s.map, s.host);
    assert.deepEqual(d, {
      map: { overlay: cidrOf('250.0.0.0/8'), underlay: cidrOf('172.16.0.0/16') },
      host: parseIpv4('172.16.3.4'),
      slice: cidrOf('250.3.4.0/24'),
      gateway: parseIpv4('250.3.4.1'),
      firstUsable: parseIpv4('250.3.4.1'),
      lastUsable: parseIpv4('250.3.4.254'),
      size: 256,
      vni: 16384000,
    });
    assert.equal(d.lastUsable - d.firstUsable + 1, 254);
  });

  it('describeHost for the /20 example', () => {
    const s = setup('99.0.0.0/8', '10.99.238.5/20');
    const d = describeHost(s.map, s.host);
    assert.equal(formatIpv4(d.gateway), '99.224.80.1');
    assert.equal(formatIpv4(d.lastUsable), '99.224.95.254');
    assert.equal(d.size, 4096);
    assert.equal(d.vni, (99 << 16) >>> 0);
  });
});

describe('shiftOf / hostBits', () => {
  it('shift is ul - ov and host bits are the low 32 - ul bits', () => {
    const s = setup('250.0.0.0/8', '172.16.3.4/16');
    assert.equal(shiftOf(s.map), 8);
    assert.equal(hostBits(s.map, s.host), 0x0304);
    const t = setup('99.0.0.0/8', '10.99.238.5/20');
    assert.equal(shiftOf(t.map), 12);
    assert.equal(hostBits(t.map, t.host), (14 << 8) | 5);
  });
});

describe('VNI and bridge names', () => {
  it('VNI is the overlay network >> 8', () => {
    assert.equal(vniOf(cidrOf('250.0.0.0/8')), 16384000);
    assert.equal(vniOf(cidrOf('240.0.0.0/8')), 15728640);
    assert.equal(vniOf(cidrOf('250.1.0.0/16')), 16384256);
    assert.equal(vniOf(cidrOf('250.7.7.7/8')), 16384000, 'host bits of the overlay are ignored');
    assert.equal(vniOf(cidrOf('255.255.255.0/24')), 0xffffff);
  });

  const names: readonly [string, string][] = [
    ['250.0.0.0/8', 'fan-250'],
    ['250.1.0.0/16', 'fan-250-1'],
    ['10.1.2.0/24', 'fan-10-1-2'],
    ['10.1.2.3/32', 'fan-10-1-2-3'],
    ['250.0.3.0/24', 'fan-250-0-3'],
    ['240.0.0.0/4', 'fan-240'],
    ['250.9.9.9/8', 'fan-250'],
  ];
  for (const [overlay, name] of names) {
    it(`${overlay} → ${name}`, () => assert.equal(bridgeNameOf(cidrOf(overlay)), name));
  }
});

describe('defineFan', () => {
  it('normalises both sides to their network address', () => {
    assert.deepEqual(defineFan(cidrOf('250.1.2.3/8'), cidrOf('172.16.3.4/16')), {
      overlay: cidrOf('250.0.0.0/8'),
      underlay: cidrOf('172.16.0.0/16'),
    });
  });

  const widthHint = 'use a shorter overlay prefix or a longer underlay prefix, e.g. -o 250.0.0.0/8 -u 172.16.0.0/16';
  it('refuses ov = ul', () => {
    assertConfigError(
      () => defineFan(cidrOf('250.0.0.0/16'), cidrOf('172.16.0.0/16')),
      'overlay 250.0.0.0/16 must be wider than underlay 172.16.0.0/16 (overlay prefix 16 >= underlay prefix 16)',
      widthHint,
    );
  });

  it('refuses ov > ul', () => {
    assertConfigError(
      () => defineFan(cidrOf('250.1.2.0/24'), cidrOf('172.16.3.4/16')),
      'overlay 250.1.2.0/24 must be wider than underlay 172.16.0.0/16 (overlay prefix 24 >= underlay prefix 16)',
      widthHint,
    );
  });

  const reservedHint = 'pick an overlay in the class E range 240.0.0.0/4, e.g. 250.0.0.0/8';
  const reserved: readonly [string, string][] = [
    ['0.0.0.0/8', 'overlay 0.0.0.0/8 overlaps "this network" (0.0.0.0/8)'],
    ['0.0.0.0/4', 'overlay 0.0.0.0/4 overlaps "this network" (0.0.0.0/8)'],
    ['127.0.0.0/8', 'overlay 127.0.0.0/8 overlaps loopback (127.0.0.0/8)'],
    ['127.1.0.0/16', 'overlay 127.1.0.0/16 overlaps loopback (127.0.0.0/8)'],
    ['64.0.0.0/2', 'overlay 64.0.0.0/2 overlaps loopback (127.0.0.0/8)'],
    ['224.0.0.0/4', 'overlay 224.0.0.0/4 overlaps multicast (224.0.0.0/4)'],
    ['239.0.0.0/8', 'overlay 239.0.0.0/8 overlaps multicast (224.0.0.0/4)'],
    ['192.0.0.0/2', 'overlay 192.0.0.0/2 overlaps multicast (224.0.0.0/4)'],
    ['128.0.0.0/1', 'overlay 128.0.0.0/1 overlaps multicast (224.0.0.0/4)'],
  ];
  for (const [overlay, message] of reserved) {
    it(`refuses reserved overlay ${overlay}`, () => {
      assertConfigError(() => defineFan(cidrOf(overlay), cidrOf('10.88.0.0/24')), message, reservedHint);
    });
  }

  it('lists exactly the three reserved ranges', () => {
    assert.deepEqual(
      RESERVED_OVERLAYS.map((r) => formatCidr(r.net)),
      ['0.0.0.0/8', '127.0.0.0/8', '224.0.0.0/4'],
    );
  });

  for (const overlay of ['240.0.0.0/4', '250.0.0.0/8', '1.0.0.0/8', '126.0.0.0/8', '128.0.0.0/8', '223.0.0.0/8']) {
    it(`accepts overlay ${overlay} next to the reserved ranges`, () => {
      assert.equal(formatCidr(defineFan(cidrOf(overlay), cidrOf('10.88.0.0/16')).overlay), overlay);
    });
  }

  it('refuses an overlay that overlaps the underlay', () => {
    const hint = 'the overlay must be a range the underlay never uses, e.g. 250.0.0.0/8';
    assertConfigError(
      () => defineFan(cidrOf('10.0.0.0/8'), cidrOf('10.1.0.0/16')),
      'overlay 10.0.0.0/8 overlaps underlay 10.1.0.0/16',
      hint,
    );
    assertConfigError(
      () => defineFan(cidrOf('240.0.0.0/4'), cidrOf('250.3.0.0/16')),
      'overlay 240.0.0.0/4 overlaps underlay 250.3.0.0/16',
      hint,
    );
  });
});

describe('checkHost / sliceOf', () => {
  const map = defineFan(cidrOf('250.0.0.0/8'), cidrOf('172.16.0.0/16'));
  const validHint = 'a Fan host needs host bits that are neither all zero nor all one';

  it('refuses a host outside the underlay', () => {
    assertConfigError(
      () => checkHost(map, parseIpv4('172.17.0.1')),
      'host address 172.17.0.1 is outside the underlay 172.16.0.0/16',
      'use an address inside 172.16.0.0/16, or the underlay this host is on',
    );
    assertConfigError(
      () => sliceOf(map, parseIpv4('10.0.0.1')),
      'host address 10.0.0.1 is outside the underlay 172.16.0.0/16',
    );
  });

  it('refuses the underlay network address (host bits all zero)', () => {
    assertConfigError(
      () => checkHost(map, parseIpv4('172.16.0.0')),
      'host address 172.16.0.0 is the network address of underlay 172.16.0.0/16',
      validHint,
    );
    assertConfigError(() => sliceOf(map, parseIpv4('172.16.0.0')), /network address/);
  });

  it('refuses the underlay broadcast address (host bits all one)', () => {
    assertConfigError(
      () => checkHost(map, parseIpv4('172.16.255.255')),
      'host address 172.16.255.255 is the broadcast address of underlay 172.16.0.0/16',
      validHint,
    );
    assertConfigError(() => sliceOf(map, parseIpv4('172.16.255.255')), /broadcast address/);
  });

  it('accepts the first and last valid hosts', () => {
    assert.doesNotThrow(() => checkHost(map, parseIpv4('172.16.0.1')));
    assert.equal(formatCidr(sliceOf(map, parseIpv4('172.16.0.1'))), '250.0.1.0/24');
    assert.equal(formatCidr(sliceOf(map, parseIpv4('172.16.255.254'))), '250.255.254.0/24');
  });
});

describe('underlayHostOf / belongsTo', () => {
  const map = defineFan(cidrOf('250.0.0.0/8'), cidrOf('172.16.0.0/16'));

  it('refuses an address outside the overlay', () => {
    assertConfigError(
      () => underlayHostOf(map, parseIpv4('251.0.0.1')),
      '251.0.0.1 is not inside overlay 250.0.0.0/8',
      'give an address inside 250.0.0.0/8',
    );
  });

  it('belongsTo answers without throwing', () => {
    const host = parseIpv4('172.16.3.4');
    assert.equal(belongsTo(map, parseIpv4('250.3.4.7'), host), true);
    assert.equal(belongsTo(map, parseIpv4('250.3.5.7'), host), false);
    assert.equal(belongsTo(map, parseIpv4('251.3.4.7'), host), false);
    assert.equal(belongsTo(map, parseIpv4('250.3.4.7'), parseIpv4('172.17.3.4')), false);
  });
});

describe('several fans on one host', () => {
  const a = defineFan(cidrOf('250.0.0.0/8'), cidrOf('172.16.0.0/16'));
  const b = defineFan(cidrOf('250.1.0.0/16'), cidrOf('10.99.224.0/20'));
  const c = defineFan(cidrOf('240.0.0.0/8'), cidrOf('10.99.224.0/20'));

  it('checkDistinctOverlays refuses overlapping overlays, naming both', () => {
    assertConfigError(
      () => checkDistinctOverlays([a, b]),
      'overlay 250.0.0.0/8 overlaps overlay 250.1.0.0/16',
      'give each fan on a host its own, disjoint overlay',
    );
    assertConfigError(() => checkDistinctOverlays([c, b, a]), 'overlay 250.1.0.0/16 overlaps overlay 250.0.0.0/8');
    assertConfigError(() => checkDistinctOverlays([a, a]), 'overlay 250.0.0.0/8 overlaps overlay 250.0.0.0/8');
  });

  it('checkDistinctOverlays accepts disjoint overlays and empty lists', () => {
    assert.doesNotThrow(() => checkDistinctOverlays([a, c]));
    assert.doesNotThrow(() => checkDistinctOverlays([]));
    assert.doesNotThrow(() => checkDistinctOverlays([b]));
  });

  it('findFan returns the first match, in list order', () => {
    const fans = [
      { name: 'wide', map: a },
      { name: 'narrow', map: b },
      { name: 'e', map: c },
    ];
    assert.equal(findFan(fans, parseIpv4('250.1.2.3'))?.name, 'wide');
    assert.equal(findFan([...fans].reverse(), parseIpv4('250.1.2.3'))?.name, 'narrow');
    assert.equal(findFan(fans, parseIpv4('250.2.0.1'))?.name, 'wide');
    assert.equal(findFan(fans, parseIpv4('240.0.0.1'))?.name, 'e');
    assert.equal(findFan(fans, parseIpv4('241.0.0.1')), undefined);
    assert.equal(findFan([], parseIpv4('250.0.0.1')), undefined);
  });

  it('sameFan compares both sides', () => {
    assert.equal(sameFan(a, defineFan(cidrOf('250.9.9.9/8'), cidrOf('172.16.3.4/16'))), true);
    assert.equal(sameFan(a, defineFan(cidrOf('250.0.0.0/8'), cidrOf('172.17.0.0/16'))), false);
    assert.equal(sameFan(a, defineFan(cidrOf('250.0.0.0/8'), cidrOf('172.16.0.0/17'))), false);
    assert.equal(sameFan(b, c), false);
  });
});

// ---- properties over random widths ------------------------------------------------------------------------------

const u32Arb = fc.integer({ min: 0, max: 0xffffffff });

function tryDefine(ov: number, ul: number, o: number, u: number): FanMap | undefined {
  try {
    return defineFan({ address: u32(o), prefix: ov }, { address: u32(u), prefix: ul });
  } catch {
    return undefined;
  }
}

/**
 * A valid fan of random widths: ov in 2..29 (every /1 overlay contains a reserved range, see above), ul in ov+1..30
 * (a /31 or /32 underlay has no host whose bits are neither all zero nor all one), networks that pass defineFan.
 */
const fanArb: fc.Arbitrary<FanMap> = fc
  .integer({ min: 2, max: 29 })
  .chain((ov) => fc.tuple(fc.constant(ov), fc.integer({ min: ov + 1, max: 30 }), u32Arb, u32Arb))
  .map(([ov, ul, o, u]) => tryDefine(ov, ul, o, u))
  .filter((m): m is FanMap => m !== undefined);

/** A valid host of the fan: host bits neither all zero nor all one. */
function hostArb(map: FanMap): fc.Arbitrary<Ipv4> {
  return fc.integer({ min: 1, max: hostMask(map.underlay.prefix) - 1 }).map((h) => u32(map.underlay.address | h));
}

/** Any address inside the overlay. */
function overlayAddressArb(map: FanMap): fc.Arbitrary<Ipv4> {
  return u32Arb.map((x) => u32(map.overlay.address | (x & hostMask(map.overlay.prefix))));
}

describe('mapping properties (fast-check, random widths)', () => {
  it('the generator covers the whole width range', () => {
    const samples = fc.sample(fanArb, { numRuns: 2000, seed: 42 });
    const shifts = new Set(samples.map(shiftOf));
    assert.ok(samples.some((m) => m.overlay.prefix === 2) && samples.some((m) => m.underlay.prefix === 30));
    assert.ok(shifts.has(1) && shifts.size > 20, `shifts seen: ${[...shifts].sort((x, y) => x - y).join(',')}`);
  });

  it('map(slice(H) + i) = H for every i in the slice (all i up to 4096, sampled above)', () => {
    fc.assert(
      fc.property(
        fanArb.chain((map) =>
          fc.record({
            map: fc.constant(map),
            host: hostArb(map),
            picks: fc.array(fc.integer({ min: 0, max: 2 ** shiftOf(map) - 1 }), { maxLength: 256 }),
          }),
        ),
        ({ map, host, picks }) => {
          const slice = sliceOf(map, host);
          const n = 2 ** shiftOf(map);
          const indices = n <= 4096 ? Array.from({ length: n }, (_, i) => i) : [0, 1, n - 2, n - 1, ...picks];
          for (const i of indices) {
            const x = slice.address + i;
            assert.equal(
              underlayHostOf(map, x),
              host,
              `i=${i} of ${formatCidr(slice)} (${formatCidr(map.overlay)} over ${formatCidr(map.underlay)})`,
            );
            assert.equal(belongsTo(map, x, host), true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('slice prefix = ov + 32 - ul, size = 2^(ul-ov), and the slice lies inside the overlay', () => {
    fc.assert(
      fc.property(
        fanArb.chain((map) => fc.tuple(fc.constant(map), hostArb(map))),
        ([map, host]) => {
          const slice = sliceOf(map, host);
          const ov = map.overlay.prefix;
          const ul = map.underlay.prefix;
          assert.equal(slice.prefix, ov + 32 - ul);
          assert.equal(size(slice), 2 ** (ul - ov));
          assert.equal(describeHost(map, host).size, 2 ** (ul - ov));
          assert.equal(u32(slice.address & mask(slice.prefix)), slice.address, 'slice is a network address');
          assert.ok(contains(map.overlay, slice.address) && slice.prefix > ov);
          assert.ok(overlaps(slice, map.overlay));
        },
      ),
    );
  });

  it('slices of distinct hosts never overlap', () => {
    fc.assert(
      fc.property(
        fanArb.chain((map) => fc.tuple(fc.constant(map), hostArb(map), hostArb(map))).filter(([, a, b]) => a !== b),
        ([map, a, b]) => !overlaps(sliceOf(map, a), sliceOf(map, b)),
      ),
    );
  });

  it('slices of neighbouring hosts are adjacent and disjoint', () => {
    fc.assert(
      fc.property(
        fanArb
          .chain((map) => fc.tuple(fc.constant(map), hostArb(map)))
          .filter(([map, h]) => hostBits(map, h) < hostMask(map.underlay.prefix) - 1),
        ([map, h]) => {
          const s1 = sliceOf(map, h);
          const s2 = sliceOf(map, h + 1);
          return s2.address === s1.address + size(s1) && !overlaps(s1, s2);
        },
      ),
    );
  });

  it('belongsTo(x, H) holds exactly when x is in slice(H)', () => {
    fc.assert(
      fc.property(
        fanArb.chain((map) => fc.tuple(fc.constant(map), overlayAddressArb(map), hostArb(map), u32Arb)),
        ([map, x, host, anything]) => {
          assert.equal(belongsTo(map, x, host), contains(sliceOf(map, host), x));
          // outside the overlay nothing belongs, and belongsTo never throws
          if (!contains(map.overlay, anything)) assert.equal(belongsTo(map, anything, host), false);
        },
      ),
    );
  });

  it('every overlay address maps into the underlay, and into the slice of the host it maps to', () => {
    fc.assert(
      fc.property(
        fanArb.chain((map) => fc.tuple(fc.constant(map), overlayAddressArb(map))),
        ([map, x]) => {
          const host = underlayHostOf(map, x);
          assert.ok(contains(map.underlay, host), `${formatIpv4(host)} outside ${formatCidr(map.underlay)}`);
          const h = hostBits(map, host);
          if (h !== 0 && h !== hostMask(map.underlay.prefix)) assert.ok(contains(sliceOf(map, host), x));
        },
      ),
    );
  });
});

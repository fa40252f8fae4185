import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type Cidr, broadcast, formatCidr, formatIpv4, parseIpv4, u32 } from '../address/ipv4.js';
import { parseDhcpRange, parseFanWords } from '../config/fan-spec.js';
import { resolveFans } from '../config/resolve.js';
import { allocateAddress } from '../ipam/allocator.js';
import { poolOf, poolSize, reservedRangeOf } from '../ipam/pool.js';
import { dhcpSpec } from '../plan/host-plan.js';
import { assertConfigError, cidrOf, typicalHost } from '../../testing/builders.js';
import {
  type AddressRange,
  type LayoutInput,
  type SliceLayout,
  inRange,
  largestIpamBlock,
  layoutOf,
  layoutReport,
  rangeSize,
  rangeToCidrs,
  sliceLayout,
} from './layout.js';

const slice24 = cidrOf('250.3.4.0/24');
const ip = parseIpv4;

function fanOf(words: string) {
  const [fan] = resolveFans([parseFanWords(words.split(' '))], typicalHost());
  assert.ok(fan);
  return fan;
}

describe('sliceLayout: examples', () => {
  it("without DHCP, every container address is the IPAM's", () => {
    assert.deepEqual(layoutReport(layoutOf({ slice: slice24, hostReserve: 1, dhcp: false })), {
      slice: '250.3.4.0/24',
      gateway: '250.3.4.1',
      reserve: '250.3.4.1',
      containers: '250.3.4.2-250.3.4.254',
      dhcp: null,
      ipam: ['250.3.4.2-250.3.4.254'],
      dhcpSize: 0,
      ipamSize: 253,
    });
  });

  it('--dhcp: the upper half of the slice to DHCP, the rest of the container addresses to the IPAM', () => {
    const r = layoutReport(sliceLayout(fanOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp')));
    assert.equal(r.dhcp, '250.3.4.128-250.3.4.254');
    assert.deepEqual(r.ipam, ['250.3.4.2-250.3.4.127']);
    assert.equal(r.dhcpSize + r.ipamSize, 253);
  });

  it('--dhcp with host-reserve 3 splits at the half; a reserve reaching into the upper half halves the rest', () => {
    assert.deepEqual(layoutReport(layoutOf({ slice: slice24, hostReserve: 3, dhcp: true })).ipam, [
      '250.3.4.4-250.3.4.127',
    ]);
    const big = layoutReport(layoutOf({ slice: slice24, hostReserve: 200, dhcp: true }));
    assert.equal(big.containers, '250.3.4.201-250.3.4.254'); // 54 addresses
    assert.deepEqual([big.ipam, big.dhcp], [['250.3.4.201-250.3.4.227'], '250.3.4.228-250.3.4.254']);
  });

  it('a small /29: IPAM .2-.3, DHCP .4-.6', () => {
    const r = layoutReport(layoutOf({ slice: cidrOf('250.3.4.0/29'), hostReserve: 1, dhcp: true }));
    assert.deepEqual([r.ipam, r.dhcp], [['250.3.4.2-250.3.4.3'], '250.3.4.4-250.3.4.6']);
  });

  it('dhcp-range N: the last N container addresses; START-END: exactly those, leaving the IPAM both sides', () => {
    assert.equal(
      layoutReport(sliceLayout(fanOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp-range 10'))).dhcp,
      '250.3.4.245-250.3.4.254',
    );
    const mid = layoutReport(
      sliceLayout(fanOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp-range 250.3.4.100-250.3.4.199')),
    );
    assert.deepEqual(
      [mid.dhcp, mid.ipam],
      ['250.3.4.100-250.3.4.199', ['250.3.4.2-250.3.4.99', '250.3.4.200-250.3.4.254']],
    );
    const all = layoutReport(sliceLayout(fanOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp-range 253')));
    assert.deepEqual([all.dhcp, all.ipam], ['250.3.4.2-250.3.4.254', []]);
  });

  it('the old positional form takes dhcp-range too, and it implies dhcp', () => {
    const fan = fanOf('250.0.0.0/8 172.16.0.0/16 dhcp-range 250.3.4.200-250.3.4.254');
    assert.equal(fan.dhcp, true);
    assert.deepEqual(dhcpSpec(fan, { stateDir: '/s' }).rangeStart, ip('250.3.4.200'));
    assert.deepEqual(dhcpSpec(fan, { stateDir: '/s' }).rangeEnd, ip('250.3.4.254'));
  });
});

describe('sliceLayout: refused ranges (before any I/O, in resolveFans)', () => {
  const resolve = (words: string) => () => resolveFans([parseFanWords(words.split(' '))], typicalHost());
  it('outside the slice', () => {
    assertConfigError(
      resolve('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp-range 250.3.5.2-250.3.5.9'),
      "dhcp-range 250.3.5.2-250.3.5.9 is not inside this host's slice 250.3.4.0/24",
      /of 250\.3\.4\.0\/24 \(250\.3\.4\.2-250\.3\.4\.254\), e\.g\. 250\.3\.4\.128-250\.3\.4\.254, or a count/,
    );
  });
  it('in the host reserve or on the network address', () => {
    assertConfigError(
      resolve('-o 250.0.0.0/8 -u 172.16.0.0/16 --host-reserve 3 --dhcp-range 250.3.4.2-250.3.4.9'),
      'dhcp-range 250.3.4.2-250.3.4.9 starts inside the host reserve (host-reserve 3: 250.3.4.1-250.3.4.3)',
      /start at 250\.3\.4\.4 or later/,
    );
    assertConfigError(
      resolve('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp-range 250.3.4.0-250.3.4.9'),
      "dhcp-range 250.3.4.0-250.3.4.9 starts inside the slice's network address",
    );
  });
  it('on the broadcast address', () => {
    assertConfigError(
      resolve('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp-range 250.3.4.200-250.3.4.255'),
      "dhcp-range 250.3.4.200-250.3.4.255 ends at the slice's broadcast address 250.3.4.255",
      /end at 250\.3\.4\.254 or earlier/,
    );
  });
  it('a count larger than the container addresses', () => {
    assertConfigError(
      resolve('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp-range 254'),
      'dhcp-range 254 asks for more addresses than slice 250.3.4.0/24 has for containers (253: 250.3.4.2-250.3.4.254)',
      /at most 253, e\.g\. 127/,
    );
  });
  it('malformed words (parse time)', () => {
    assertConfigError(() => parseDhcpRange('0'), 'dhcp-range "0" is not a positive count');
    assertConfigError(() => parseDhcpRange('250.3.4.9'), 'dhcp-range "250.3.4.9" is neither START-END nor a count');
    assertConfigError(
      () => parseDhcpRange('250.3.4.9-250.3.4.2'),
      'dhcp-range "250.3.4.9-250.3.4.2" starts after it ends',
      'write the lower address first: 250.3.4.2-250.3.4.9',
    );
    assertConfigError(
      () => parseFanWords('-o 250.0.0.0/8 -u eth0/16 --dhcp-range 3 --dhcp-range 4'.split(' ')),
      'dhcp-range is given twice ("3" and "4")',
    );
  });
});

describe('rangeToCidrs and largestIpamBlock', () => {
  it('decomposes a range into aligned blocks', () => {
    assert.deepEqual(rangeToCidrs({ start: ip('250.3.4.2'), end: ip('250.3.4.127') }).map(formatCidr), [
      '250.3.4.2/31',
      '250.3.4.4/30',
      '250.3.4.8/29',
      '250.3.4.16/28',
      '250.3.4.32/27',
      '250.3.4.64/26',
    ]);
    assert.deepEqual(rangeToCidrs({ start: 0, end: 0xffffffff }).map(formatCidr), ['0.0.0.0/0']);
  });
  it('default split: the lower half; no DHCP: the slice; everything DHCP: none', () => {
    assert.equal(
      formatCidr(largestIpamBlock(layoutOf({ slice: slice24, hostReserve: 1, dhcp: true })) ?? slice24),
      '250.3.4.0/25',
    );
    assert.equal(
      formatCidr(largestIpamBlock(layoutOf({ slice: slice24, hostReserve: 1, dhcp: false })) ?? cidrOf('0.0.0.0/0')),
      '250.3.4.0/24',
    );
    assert.equal(
      largestIpamBlock(layoutOf({ slice: slice24, hostReserve: 1, dhcp: true, dhcpRange: parseDhcpRange('253') })),
      undefined,
    );
  });
});

// ---- properties -------------------------------------------------------------------------------------------

const inputArb: fc.Arbitrary<LayoutInput> = fc
  .record({
    prefix: fc.integer({ min: 8, max: 30 }),
    address: fc.integer({ min: 0, max: 0xffffffff }),
    reserveFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    mode: fc.constantFrom('none', 'default', 'count', 'range'),
    a: fc.double({ min: 0, max: 1, noNaN: true }),
    b: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map((r): LayoutInput => {
    const size = 2 ** (32 - r.prefix);
    const slice: Cidr = { address: u32(r.address - (r.address % size)), prefix: r.prefix };
    const hostReserve = 1 + Math.floor(r.reserveFraction * (size - 4)); // at least one container address
    const first = slice.address + hostReserve + 1;
    const count = broadcast(slice) - first; // container addresses
    if (r.mode === 'none') return { slice, hostReserve, dhcp: false };
    if (r.mode === 'default') return { slice, hostReserve, dhcp: true };
    if (r.mode === 'count')
      return { slice, hostReserve, dhcp: true, dhcpRange: parseDhcpRange(String(1 + Math.floor(r.a * (count - 1)))) };
    const x = first + Math.floor(r.a * (count - 1));
    const y = first + Math.floor(r.b * (count - 1));
    return {
      slice,
      hostReserve,
      dhcp: true,
      dhcpRange: parseDhcpRange(`${formatIpv4(u32(Math.min(x, y)))}-${formatIpv4(u32(Math.max(x, y)))}`),
    };
  });

function owners(layout: SliceLayout, address: number): string[] {
  const out: string[] = [];
  if (address === layout.slice.address) out.push('network');
  if (address === broadcast(layout.slice)) out.push('broadcast');
  if (inRange(layout.reserve, address)) out.push('reserve');
  if (inRange(layout.dhcp, address)) out.push('dhcp');
  if (layout.ipam.some((r) => inRange(r, address))) out.push('ipam');
  return out;
}

/** Interesting addresses of a layout: every range's ends and their neighbours. */
function probes(layout: SliceLayout): number[] {
  const ranges: AddressRange[] = [layout.reserve, ...(layout.dhcp ? [layout.dhcp] : []), ...layout.ipam];
  const points = ranges.flatMap((r) => [r.start - 1, r.start, r.end, r.end + 1]);
  points.push(layout.slice.address, broadcast(layout.slice));
  return points.filter((p) => p >= layout.slice.address && p <= broadcast(layout.slice));
}

describe('sliceLayout: properties', () => {
  it('network, broadcast, reserve, DHCP and IPAM partition the slice: every address has exactly one owner', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const layout = layoutOf(input);
        for (const p of probes(layout))
          assert.equal(owners(layout, p).length, 1, `${formatIpv4(p)}: ${owners(layout, p).join(',')}`);
        const total =
          2 + rangeSize(layout.reserve) + rangeSize(layout.dhcp) + layout.ipam.reduce((n, r) => n + rangeSize(r), 0);
        assert.equal(total, 2 ** (32 - layout.slice.prefix));
      }),
      { numRuns: 400 },
    );
  });

  it('DHCP exactly when asked; the default split leaves both shares addresses when there are two or more', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const layout = layoutOf(input);
        assert.equal(layout.dhcp !== undefined, input.dhcp);
        if (input.dhcp && input.dhcpRange === undefined && rangeSize(layout.containers) >= 2) {
          assert.ok(rangeSize(layout.dhcp) >= 1 && layout.ipam.length === 1);
          assert.ok(rangeSize(layout.dhcp) >= rangeSize(layout.ipam[0]), 'DHCP gets the larger half');
        }
        if (input.dhcpRange?.kind === 'count') assert.equal(rangeSize(layout.dhcp), input.dhcpRange.count);
        if (input.dhcpRange?.kind === 'range')
          assert.deepEqual(layout.dhcp, { start: input.dhcpRange.start, end: input.dhcpRange.end });
      }),
      { numRuns: 400 },
    );
  });

  it("the IPAM never hands out a DHCP address, and dnsmasq's range is never the IPAM's", () => {
    const fanInput = fc.record({
      reserve: fc.integer({ min: 1, max: 250 }),
      mode: fc.constantFrom(
        '',
        ' --dhcp',
        ' --dhcp-range 1',
        ' --dhcp-range 100',
        ' --dhcp-range 250.3.4.250-250.3.4.254',
      ),
    });
    fc.assert(
      fc.property(fanInput, fc.integer({ min: 0, max: 300 }), ({ reserve, mode }, n) => {
        let fan;
        try {
          fan = fanOf(`-o 250.0.0.0/8 -u 172.16.0.0/16 --host-reserve ${reserve}${mode}`);
        } catch {
          return; // a range the reserve swallows is refused (tested above)
        }
        const pool = poolOf(fan);
        const layout = sliceLayout(fan);
        const taken = new Map<number, string>();
        let last: number | undefined;
        for (let i = 0; i < Math.min(n, poolSize(pool)); i++) {
          const a = allocateAddress({ pool, taken, ...(last === undefined ? {} : { last }) });
          assert.ok(!inRange(layout.dhcp, a), `IPAM gave ${formatIpv4(a)} from the DHCP range`);
          assert.ok(layout.ipam.some((r) => inRange(r, a)));
          taken.set(a, `c${i}`);
          last = a;
        }
        if (fan.dhcp) {
          const spec = dhcpSpec(fan, { stateDir: '/s' });
          for (const p of [spec.rangeStart, spec.rangeEnd])
            assert.ok(reservedRangeOf(pool, p)?.reason.includes('DHCP'));
          assert.ok(layout.ipam.every((r) => r.end < spec.rangeStart || r.start > spec.rangeEnd));
        }
      }),
      { numRuns: 150 },
    );
  });

  it('largestIpamBlock holds no DHCP address, lies in the slice and holds an IPAM address', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const layout = layoutOf(input);
        const block = largestIpamBlock(layout);
        const ipamSize = layout.ipam.reduce((n, r) => n + rangeSize(r), 0);
        assert.equal(block === undefined, ipamSize === 0);
        if (!block) return;
        const end = broadcast(block);
        assert.ok(block.address >= layout.slice.address && end <= broadcast(layout.slice));
        if (layout.dhcp) assert.ok(end < layout.dhcp.start || block.address > layout.dhcp.end);
        assert.ok(layout.ipam.some((r) => r.start <= end && r.end >= block.address));
      }),
      { numRuns: 400 },
    );
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type Ipv4, broadcast, contains, formatIpv4, parseIpv4, u32 } from '../address/ipv4.js';
import { parseFanWords } from '../config/fan-spec.js';
import { resolveFans } from '../config/resolve.js';
import { cidrOf, typicalHost } from '../../testing/builders.js';
import { IpamError, allocateAddress } from './allocator.js';
import { EMPTY_LEASE_TABLE, type LeaseTable, allocateLease, collectLeases, releaseLease } from './leases.js';
import { type IpamPool, describeFreeRanges, makePool, poolOf, poolSize, reservedRangeOf } from './pool.js';

const ip = parseIpv4;

/** 250.3.4.0/24 with host-reserve 1: containers get .2 … .254. */
function pool24(extra: Partial<Parameters<typeof makePool>[0]> = {}): IpamPool {
  return makePool({
    label: 'fan 250.0.0.0/8 (bridge fan-250)',
    slice: cidrOf('250.3.4.0/24'),
    hostReserve: 1,
    ...extra,
  });
}

function fanOf(words: string): ReturnType<typeof resolveFans>[number] {
  const fan = resolveFans([parseFanWords(words.split(' '))], typicalHost())[0];
  assert.ok(fan);
  return fan;
}

function ipamError(fn: () => unknown): IpamError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof IpamError, `expected an IpamError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected an IpamError, but nothing was thrown');
}

describe('IPAM pool', () => {
  it('is the slice minus network, host reserve and broadcast', () => {
    const pool = pool24();
    assert.equal(poolSize(pool), 253);
    assert.equal(describeFreeRanges(pool), '250.3.4.2–250.3.4.254');
    assert.equal(reservedRangeOf(pool, ip('250.3.4.1'))?.reason.startsWith('the host reserve'), true);
    assert.equal(reservedRangeOf(pool, ip('250.3.4.255'))?.reason, "the slice's broadcast address");
    assert.equal(reservedRangeOf(pool, ip('250.3.4.9')), undefined);
  });

  it('comes from a resolved fan: slice, gateway, host reserve', () => {
    const pool = poolOf(fanOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --host-reserve 3'));
    assert.equal(formatIpv4(pool.slice.address), '250.3.4.0');
    assert.equal(pool.slice.prefix, 24);
    assert.equal(formatIpv4(pool.gateway), '250.3.4.1');
    assert.equal(poolSize(pool), 251);
    assert.equal(describeFreeRanges(pool), '250.3.4.4–250.3.4.254');
    assert.equal(pool.label, 'fan 250.0.0.0/8 (bridge fan-250)');
  });

  it('loses the DHCP share when the fan serves DHCP: the upper half by default', () => {
    const pool = poolOf(fanOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp'));
    assert.equal(pool.dhcp, true);
    assert.equal(poolSize(pool), 126);
    assert.equal(describeFreeRanges(pool), '250.3.4.2–250.3.4.127');
  });

  it('is empty when the DHCP range takes every container address', () => {
    const pool = poolOf(fanOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp-range 250.3.4.2-250.3.4.254'));
    assert.equal(poolSize(pool), 0);
    assert.equal(describeFreeRanges(pool), 'none');
  });

  it('keeps what a partial DHCP range leaves', () => {
    const pool = pool24({ dhcpRange: { start: ip('250.3.4.100'), end: ip('250.3.4.254') } });
    assert.equal(poolSize(pool), 98);
    assert.equal(describeFreeRanges(pool), '250.3.4.2–250.3.4.99');
  });
});

describe('allocateAddress', () => {
  it('hands out the first free address, then continues after the last one (round robin)', () => {
    const pool = pool24();
    assert.equal(formatIpv4(allocateAddress({ pool, taken: new Map() })), '250.3.4.2');
    assert.equal(formatIpv4(allocateAddress({ pool, taken: new Map(), last: ip('250.3.4.2') })), '250.3.4.3');
    const taken = new Map<Ipv4, string>([
      [ip('250.3.4.3'), 'x'],
      [ip('250.3.4.4'), 'y'],
    ]);
    assert.equal(formatIpv4(allocateAddress({ pool, taken, last: ip('250.3.4.2') })), '250.3.4.5');
  });

  it('wraps past the broadcast address and the host reserve', () => {
    const pool = pool24();
    assert.equal(formatIpv4(allocateAddress({ pool, taken: new Map(), last: ip('250.3.4.254') })), '250.3.4.2');
    // A `last` outside the slice (the fan moved) restarts at the beginning.
    assert.equal(formatIpv4(allocateAddress({ pool, taken: new Map(), last: ip('10.0.0.1') })), '250.3.4.2');
  });

  it('skips the DHCP range', () => {
    const pool = pool24({ dhcpRange: { start: ip('250.3.4.10'), end: ip('250.3.4.20') } });
    assert.equal(formatIpv4(allocateAddress({ pool, taken: new Map(), last: ip('250.3.4.9') })), '250.3.4.21');
  });

  it('grants a free static request, anywhere in the free ranges', () => {
    assert.equal(
      formatIpv4(allocateAddress({ pool: pool24(), taken: new Map(), request: ip('250.3.4.77') })),
      '250.3.4.77',
    );
  });

  it('refuses a request outside the slice, naming the slice', () => {
    const e = ipamError(() => allocateAddress({ pool: pool24(), taken: new Map(), request: ip('250.3.5.7') }));
    assert.equal(e.kind, 'outside');
    assert.equal(
      e.message,
      "requested address 250.3.5.7 is outside this host's slice 250.3.4.0/24 of fan 250.0.0.0/8 (bridge fan-250)",
    );
    assert.match(e.hint ?? '', /250\.3\.4\.2–250\.3\.4\.254/);
  });

  it('refuses reserved addresses, naming the range', () => {
    const pool = pool24({ hostReserve: 2, dhcpRange: { start: ip('250.3.4.200'), end: ip('250.3.4.254') } });
    const cases: [string, RegExp][] = [
      ['250.3.4.0', /network address/],
      ['250.3.4.2', /the host reserve \(host-reserve 2.*250\.3\.4\.1–250\.3\.4\.2 of slice 250\.3\.4\.0\/24/],
      ['250.3.4.201', /DHCP range.*250\.3\.4\.200–250\.3\.4\.254/],
      ['250.3.4.255', /broadcast address/],
    ];
    for (const [address, message] of cases) {
      const e = ipamError(() => allocateAddress({ pool, taken: new Map(), request: ip(address) }));
      assert.equal(e.kind, 'reserved', address);
      assert.match(e.message, message);
    }
  });

  it('refuses a request somebody holds, naming the holder', () => {
    const e = ipamError(() =>
      allocateAddress({
        pool: pool24(),
        taken: new Map([[ip('250.3.4.9'), 'cni:net:abc (eth0)']]),
        request: ip('250.3.4.9'),
      }),
    );
    assert.equal(e.kind, 'taken');
    assert.match(e.message, /already held by cni:net:abc \(eth0\)/);
  });

  it('reports exhaustion with the pool size', () => {
    const pool = makePool({ label: 'fan X', slice: cidrOf('250.3.4.0/29'), hostReserve: 1 }); // .2 … .6
    const taken = new Map<Ipv4, string>([2, 3, 4, 5, 6].map((n) => [u32(pool.slice.address + n), 'x']));
    const e = ipamError(() => allocateAddress({ pool, taken }));
    assert.equal(e.kind, 'exhausted');
    assert.equal(e.poolSize, 5);
    assert.equal(e.message, 'fan X is full: all 5 container addresses of slice 250.3.4.0/29 are allocated');
  });

  it('explains an empty pool caused by DHCP and suggests turning DHCP off', () => {
    const e = ipamError(() =>
      allocateAddress({ pool: poolOf(fanOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp-range 253')), taken: new Map() }),
    );
    assert.equal(e.kind, 'exhausted');
    assert.equal(e.poolSize, 0);
    assert.match(e.message, /DHCP range covers every container address of slice 250\.3\.4\.0\/24/);
    assert.match(e.hint ?? '', /without dhcp/);
  });
});

describe('allocator properties', () => {
  const poolArb = fc
    .record({
      base: fc.integer({ min: 0, max: 0xffffff }),
      prefix: fc.integer({ min: 24, max: 30 }),
      reserve: fc.integer({ min: 1, max: 4 }),
      dhcp: fc.option(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })), { nil: undefined }),
    })
    .map(({ base, prefix, reserve, dhcp }) => {
      const slice = { address: u32(0xfa000000 | ((base << 8) & 0x00ffffff)), prefix };
      const size = 2 ** (32 - prefix);
      const dhcpRange = dhcp
        ? {
            start: u32(slice.address + (Math.min(dhcp[0], dhcp[1]) % size)),
            end: u32(slice.address + (Math.max(dhcp[0], dhcp[1]) % size)),
          }
        : undefined;
      return makePool({
        label: 'fan P',
        slice,
        hostReserve: Math.min(reserve, size - 3),
        ...(dhcpRange && dhcpRange.start <= dhcpRange.end ? { dhcpRange } : {}),
      });
    });

  it('never hands out a reserved, taken or foreign address, and fails only when nothing is free', () => {
    fc.assert(
      fc.property(
        poolArb,
        fc.array(fc.nat(), { maxLength: 80 }),
        fc.option(fc.nat(), { nil: undefined }),
        (pool, takenOffsets, lastOffset) => {
          const size = broadcast(pool.slice) - pool.slice.address + 1;
          const taken = new Map<Ipv4, string>(takenOffsets.map((o) => [u32(pool.slice.address + (o % size)), 'x']));
          const last = lastOffset === undefined ? undefined : u32(pool.slice.address + (lastOffset % size));
          const free: Ipv4[] = [];
          for (let a = pool.slice.address; a <= broadcast(pool.slice); a++)
            if (!reservedRangeOf(pool, a) && !taken.has(a)) free.push(a);
          try {
            const got = allocateAddress({ pool, taken, ...(last !== undefined ? { last } : {}) });
            assert.ok(contains(pool.slice, got));
            assert.equal(reservedRangeOf(pool, got), undefined);
            assert.equal(taken.has(got), false);
            // Deterministic: the first free address after `last`, cyclically.
            const after =
              last === undefined ? free : [...free.filter((a) => a > last), ...free.filter((a) => a <= last)];
            assert.equal(got, after[0]);
          } catch (error) {
            assert.ok(error instanceof IpamError && error.kind === 'exhausted', String(error));
            assert.equal(free.length, 0);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('allocate/release sequences never hold one address twice', () => {
    const opArb = fc.oneof(
      fc.record({ op: fc.constant('alloc' as const), id: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ op: fc.constant('release' as const), id: fc.integer({ min: 0, max: 40 }) }),
    );
    fc.assert(
      fc.property(poolArb, fc.array(opArb, { maxLength: 120 }), (pool, ops) => {
        let table: LeaseTable = EMPTY_LEASE_TABLE;
        for (const { op, id } of ops) {
          const key = { owner: `o${id}`, ifname: 'eth0' };
          if (op === 'alloc') {
            try {
              const before = table.leases.find((l) => l.owner === key.owner);
              const r = allocateLease(table, pool, key, undefined, 't');
              if (before) assert.equal(r.lease.address, before.address, 'a repeated allocation returns the same lease');
              table = r.table;
            } catch (error) {
              assert.ok(error instanceof IpamError && error.kind === 'exhausted');
              assert.equal(table.leases.length, poolSize(pool));
            }
          } else {
            table = releaseLease(table, key).table;
          }
          const addresses = table.leases.map((l) => l.address);
          assert.equal(new Set(addresses).size, addresses.length, 'duplicate address');
          for (const a of addresses) assert.equal(reservedRangeOf(pool, a), undefined);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('lease table', () => {
  const pool = pool24();
  const a = { owner: 'cni:net:a', ifname: 'eth0' };
  const b = { owner: 'cni:net:b', ifname: 'eth0' };

  it('allocation is idempotent per (owner, ifname)', () => {
    const first = allocateLease(EMPTY_LEASE_TABLE, pool, a, undefined, 't1');
    assert.equal(first.created, true);
    const again = allocateLease(first.table, pool, a, undefined, 't2');
    assert.equal(again.created, false);
    assert.equal(again.lease, first.lease);
    assert.equal(again.table, first.table);
    const other = allocateLease(first.table, pool, { ...a, ifname: 'eth1' }, undefined, 't3');
    assert.notEqual(other.lease.address, first.lease.address);
  });

  it('refuses a different static request for a key that holds a lease', () => {
    const first = allocateLease(EMPTY_LEASE_TABLE, pool, a, undefined, 't');
    assert.throws(
      () => allocateLease(first.table, pool, a, ip('250.3.4.99'), 't'),
      /already holds 250\.3\.4\.2, not the requested 250\.3\.4\.99/,
    );
    assert.equal(allocateLease(first.table, pool, a, ip('250.3.4.2'), 't').created, false);
  });

  it('a static request does not move the round-robin cursor', () => {
    const s = allocateLease(EMPTY_LEASE_TABLE, pool, a, ip('250.3.4.50'), 't');
    assert.equal(s.table.last, undefined);
    assert.equal(formatIpv4(allocateLease(s.table, pool, b, undefined, 't').lease.address), '250.3.4.2');
  });

  it('release is idempotent', () => {
    const t = allocateLease(EMPTY_LEASE_TABLE, pool, a, undefined, 't').table;
    const r1 = releaseLease(t, a);
    assert.equal(formatIpv4(r1.released?.address ?? 0), '250.3.4.2');
    assert.equal(r1.table.leases.length, 0);
    const r2 = releaseLease(r1.table, a);
    assert.equal(r2.released, undefined);
    assert.equal(r2.table, r1.table);
  });

  it('gc keeps what the predicate accepts', () => {
    let t = allocateLease(EMPTY_LEASE_TABLE, pool, a, undefined, 't').table;
    t = allocateLease(t, pool, b, undefined, 't').table;
    t = allocateLease(t, pool, { owner: 'docker:x', ifname: 'eth0' }, undefined, 't').table;
    const r = collectLeases(t, (l) => !l.owner.startsWith('cni:net:') || l.owner === a.owner);
    assert.deepEqual(
      r.removed.map((l) => l.owner),
      ['cni:net:b'],
    );
    assert.deepEqual(
      r.table.leases.map((l) => l.owner),
      ['cni:net:a', 'docker:x'],
    );
    assert.equal(r.table.last, t.last);
  });
});

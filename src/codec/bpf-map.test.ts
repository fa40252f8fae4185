import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseIpv4 } from '../core/address/ipv4.js';
import type { OverlayEntry } from '../core/model/host-state.js';
import {
  MAX_OVERLAYS,
  NOMATCH_INDEX,
  decodeOverlayDump,
  decodeStatsDump,
  emptyStats,
  keyHex,
  overlayValueHex,
} from './bpf-map.js';

/** `"00 00 00 fa"` → the bytes as bpftool -j prints them: `["0x00","0x00","0x00","0xfa"]`. */
const dumped = (text: string): string[] =>
  text
    .split(/\s+/)
    .filter(Boolean)
    .map((b) => `0x${b}`);
const plain = (text: string): string[] => text.split(/\s+/).filter(Boolean);

/** 250.0.0.0/8 over 172.16.0.0/16, this host 172.16.1.1. */
const ENTRY: OverlayEntry = {
  overlay: parseIpv4('250.0.0.0'),
  overlayMask: parseIpv4('255.0.0.0'),
  underlay: parseIpv4('172.16.0.0'),
  underlayMask: parseIpv4('255.255.0.0'),
  shift: 8,
  vni: 16384000,
  local: parseIpv4('172.16.1.1'),
};

describe('overlayValueHex / keyHex: struct fan_overlay, byte for byte', () => {
  it('eight little-endian __u32: the seven fields, then enabled = 1', () => {
    assert.deepEqual(
      overlayValueHex(ENTRY),
      plain('00 00 00 fa  00 00 00 ff  00 00 10 ac  00 00 ff ff  08 00 00 00  00 00 fa 00  01 01 10 ac  01 00 00 00'),
    );
  });

  it('undefined is an unused slot: 32 zero bytes (enabled = 0 ends the table)', () => {
    assert.deepEqual(
      overlayValueHex(undefined),
      Array.from({ length: 32 }, () => '00'),
    );
  });

  it('keys are little-endian __u32', () => {
    assert.deepEqual(keyHex(0), ['00', '00', '00', '00']);
    assert.deepEqual(keyHex(NOMATCH_INDEX), ['10', '00', '00', '00']);
    assert.deepEqual(keyHex(0x01020304), ['04', '03', '02', '01']);
  });
});

/**
 * The first two entries of `bpftool -j map dump id N` of a fan_overlays map on this machine (bpftool 7.1, with BTF),
 * verbatim: one fan (250.0.0.0/8 over 172.16.0.0/16, local 172.16.0.11), then the first unused slot.
 */
const REAL_OVERLAY_HEAD =
  '{"key":["0x00","0x00","0x00","0x00"],"value":["0x00","0x00","0x00","0xfa","0x00","0x00","0x00","0xff","0x00",' +
  '"0x00","0x10","0xac","0x00","0x00","0xff","0xff","0x08","0x00","0x00","0x00","0x00","0x00","0xfa","0x00","0x0b",' +
  '"0x00","0x10","0xac","0x01","0x00","0x00","0x00"],"formatted":{"key":0,"value":{"overlay":4194304000,' +
  '"overlay_mask":4278190080,"underlay":2886729728,"underlay_mask":4294901760,"shift":8,"vni":16384000,' +
  '"local":2886729739,"enabled":1}}},' +
  '{"key":["0x01","0x00","0x00","0x00"],"value":["0x00","0x00","0x00","0x00","0x00","0x00","0x00","0x00","0x00",' +
  '"0x00","0x00","0x00","0x00","0x00","0x00","0x00","0x00","0x00","0x00","0x00","0x00","0x00","0x00","0x00","0x00",' +
  '"0x00","0x00","0x00","0x00","0x00","0x00","0x00"],"formatted":{"key":1,"value":{"overlay":0,"overlay_mask":0,' +
  '"underlay":0,"underlay_mask":0,"shift":0,"vni":0,"local":0,"enabled":0}}}';

const REAL_ENTRY: OverlayEntry = { ...ENTRY, local: parseIpv4('172.16.0.11') };

interface RawItem {
  key: string[];
  value: string[];
}

/** A full 16-slot map in bpftool's shape: `entries` from slot 0, the rest unused; with or without BTF formatting. */
function overlayDump(entries: readonly OverlayEntry[], btf: boolean): RawItem[] {
  return Array.from({ length: MAX_OVERLAYS }, (_, i) => {
    const e = entries[i];
    const raw = { key: keyHex(i).map((b) => `0x${b}`), value: overlayValueHex(e).map((b) => `0x${b}`) };
    if (!btf) return raw;
    const v = e ?? { overlay: 0, overlayMask: 0, underlay: 0, underlayMask: 0, shift: 0, vni: 0, local: 0 };
    return {
      ...raw,
      formatted: {
        key: i,
        value: {
          overlay: v.overlay,
          overlay_mask: v.overlayMask,
          underlay: v.underlay,
          underlay_mask: v.underlayMask,
          shift: v.shift,
          vni: v.vni,
          local: v.local,
          enabled: e ? 1 : 0,
        },
      },
    };
  });
}

describe('decodeOverlayDump', () => {
  it('BTF-formatted dump (real bpftool 7.1 output)', () => {
    const rest = overlayDump([], true)
      .slice(2)
      .map((i) => JSON.stringify(i));
    const decoded = decodeOverlayDump(`[${REAL_OVERLAY_HEAD},${rest.join(',')}]`);
    assert.deepEqual(decoded, [REAL_ENTRY]);
    // diffHost compares tables by contentKey (JSON text): the decoded entry must list its fields in the planned order.
    assert.equal(JSON.stringify(decoded[0]), JSON.stringify(REAL_ENTRY));
  });

  it('raw hex dump (no BTF): the same entries', () => {
    const head = (JSON.parse(`[${REAL_OVERLAY_HEAD}]`) as { key: string[]; value: string[] }[]).map(
      ({ key, value }) => ({ key, value }),
    );
    const json = JSON.stringify([...head, ...overlayDump([], false).slice(2)]);
    assert.ok(!json.includes('formatted'));
    const decoded = decodeOverlayDump(json);
    assert.deepEqual(decoded, [REAL_ENTRY]);
    assert.equal(JSON.stringify(decoded[0]), JSON.stringify(REAL_ENTRY));
  });

  it('hex bytes with or without the 0x prefix', () => {
    const json = JSON.stringify([{ key: keyHex(0), value: overlayValueHex(ENTRY) }]);
    assert.deepEqual(decodeOverlayDump(json), [ENTRY]);
  });

  for (const btf of [true, false]) {
    it(`${btf ? 'BTF' : 'raw'}: sorted by key, and the first disabled slot ends the table`, () => {
      const second = { ...ENTRY, overlay: parseIpv4('251.0.0.0'), vni: 251 << 16 };
      const third = { ...ENTRY, overlay: parseIpv4('252.0.0.0'), vni: 252 << 16 };
      const items = overlayDump([ENTRY, second, third], btf);
      // Slot 1 unused (a table that ends after slot 0) though slot 2 still holds an old entry; shuffled.
      const holed = overlayDump([ENTRY, third, third], btf);
      holed[1] = overlayDump([], btf)[1] as RawItem;
      assert.deepEqual(decodeOverlayDump(JSON.stringify([...items].reverse())), [ENTRY, second, third]);
      assert.deepEqual(decodeOverlayDump(JSON.stringify([holed[2], holed[1], holed[0]])), [ENTRY]);
      assert.deepEqual(decodeOverlayDump(JSON.stringify(overlayDump([], btf))), []);
    });
  }

  it('an empty dump is an empty table', () => {
    assert.deepEqual(decodeOverlayDump('[]'), []);
  });

  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  const entryArb: fc.Arbitrary<OverlayEntry> = fc
    .record({
      overlay: u32,
      overlayMask: u32,
      underlay: u32,
      underlayMask: u32,
      shift: fc.integer({ min: 0, max: 32 }),
      vni: fc.integer({ min: 0, max: 0xffffff }),
      local: u32,
    })
    .map((e) => ({ ...e })); // fc.record builds null-prototype objects; the decoder returns plain ones

  it('property: decode(encode(table)) is the table, in both shapes', () => {
    fc.assert(
      fc.property(fc.array(entryArb, { maxLength: MAX_OVERLAYS }), fc.boolean(), (table, btf) => {
        assert.deepEqual(decodeOverlayDump(JSON.stringify(overlayDump(table, btf))), table);
      }),
      { seed: 11 },
    );
  });
});

describe('decodeStatsDump (PERCPU_ARRAY fan_stats)', () => {
  /** struct fan_stats as 48 bytes: six little-endian __u64 given as 8-byte groups. */
  const CPU0_KEY0 =
    '90 2b 02 00 00 00 00 00  58 01 f1 aa 01 00 00 00  00 00 00 00 00 00 00 00  ' +
    '00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00';
  const CPU1_KEY0 =
    '0a 00 00 00 00 00 00 00  e8 03 00 00 00 00 00 00  02 00 00 00 00 00 00 00  ' +
    '00 00 00 00 00 00 00 00  07 00 00 00 00 00 00 00  01 00 00 00 00 00 00 00';
  const CPU0_KEY16 =
    '00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  ' +
    '05 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  03 00 00 00 00 00 00 00';
  const ZERO = Array.from({ length: 48 }, () => '00').join(' ');
  const zeroStats = {
    tx_packets: 0,
    tx_bytes: 0,
    tx_drop_local: 0,
    tx_drop_nomatch: 0,
    rx_packets: 0,
    rx_drop_spoof: 0,
  };

  const RAW = [
    {
      key: dumped('00 00 00 00'),
      values: [
        { cpu: 0, value: dumped(CPU0_KEY0) },
        { cpu: 1, value: dumped(CPU1_KEY0) },
      ],
    },
    {
      key: dumped('01 00 00 00'),
      values: [
        { cpu: 0, value: dumped(ZERO) },
        { cpu: 1, value: dumped(ZERO) },
      ],
    },
    {
      key: dumped('10 00 00 00'),
      values: [
        { cpu: 0, value: dumped(CPU0_KEY16) },
        { cpu: 1, value: dumped(ZERO) },
      ],
    },
  ];
  /** The same counters as bpftool prints them with BTF (the shape seen on this machine). */
  const BTF = RAW.map((item, i) => ({
    ...item,
    formatted: {
      key: [0, 1, 16][i],
      values: [
        [
          { cpu: 0, value: { ...zeroStats, tx_packets: 142224, tx_bytes: 7162888536 } },
          {
            cpu: 1,
            value: {
              tx_packets: 10,
              tx_bytes: 1000,
              tx_drop_local: 2,
              tx_drop_nomatch: 0,
              rx_packets: 7,
              rx_drop_spoof: 1,
            },
          },
        ],
        [
          { cpu: 0, value: zeroStats },
          { cpu: 1, value: zeroStats },
        ],
        [
          { cpu: 0, value: { ...zeroStats, tx_drop_nomatch: 5, rx_drop_spoof: 3 } },
          { cpu: 1, value: zeroStats },
        ],
      ][i],
    },
  }));

  const EXPECTED = new Map([
    [0, { txPackets: 142234, txBytes: 7162889536, txDropLocal: 2, txDropNomatch: 0, rxPackets: 7, rxDropSpoof: 1 }],
    [1, emptyStats()],
    [NOMATCH_INDEX, { ...emptyStats(), txDropNomatch: 5, rxDropSpoof: 3 }],
  ]);

  it('BTF-formatted: sums each counter over the CPUs', () => {
    assert.deepEqual(decodeStatsDump(JSON.stringify(BTF)), EXPECTED);
  });

  it('raw hex: reads six little-endian __u64 (beyond 2^32) and sums over the CPUs', () => {
    assert.deepEqual(decodeStatsDump(JSON.stringify(RAW)), EXPECTED);
  });

  it('an empty dump has no counters', () => {
    assert.deepEqual(decodeStatsDump('[]'), new Map());
  });
});

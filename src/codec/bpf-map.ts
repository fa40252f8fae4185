/**
 * The eBPF maps of bpf/fan.bpf.c as bytes and JSON: the overlay table fanctl writes with
 * `bpftool map update … key hex … value hex …`, and the counters it reads with `bpftool -j map dump`.
 * Layouts must match the C structs (little-endian, x86_64/arm64).
 */
import { z } from 'zod';
import { MAX_OVERLAYS, type OverlayEntry } from '../core/model/host-state.js';

export const OVERLAY_MAP = 'fan_overlays';
export const STATS_MAP = 'fan_stats';
export { MAX_OVERLAYS };
/** Index of the counters for frames that matched no overlay (or were not IPv4). */
export const NOMATCH_INDEX = MAX_OVERLAYS;

/** struct fan_overlay field order. */
const OVERLAY_FIELDS = ['overlay', 'overlayMask', 'underlay', 'underlayMask', 'shift', 'vni', 'local'] as const;
/** struct fan_stats field order (all __u64). */
export const STAT_FIELDS = [
  'txPackets',
  'txBytes',
  'txDropLocal',
  'txDropNomatch',
  'rxPackets',
  'rxDropSpoof',
] as const;
export type StatName = (typeof STAT_FIELDS)[number];
export type Stats = Record<StatName, number>;
const C_STAT_NAMES: Record<StatName, string> = {
  txPackets: 'tx_packets',
  txBytes: 'tx_bytes',
  txDropLocal: 'tx_drop_local',
  txDropNomatch: 'tx_drop_nomatch',
  rxPackets: 'rx_packets',
  rxDropSpoof: 'rx_drop_spoof',
};

const hex = (byte: number): string => byte.toString(16).padStart(2, '0');

function u32le(value: number): string[] {
  const v = value >>> 0;
  return [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24].map(hex);
}

export function keyHex(index: number): string[] {
  return u32le(index);
}

/** 32 bytes: the seven fields then `enabled` (0 for an unused slot, which also ends the table). */
export function overlayValueHex(entry: OverlayEntry | undefined): string[] {
  if (!entry) return Array.from({ length: 32 }, () => '00');
  return [...OVERLAY_FIELDS.flatMap((f) => u32le(entry[f])), ...u32le(1)];
}

const hexBytes = z.array(z.string());
const rawEntry = z.object({ key: hexBytes, value: hexBytes });
const btfOverlay = z.object({
  overlay: z.number(),
  overlay_mask: z.number(),
  underlay: z.number(),
  underlay_mask: z.number(),
  shift: z.number(),
  vni: z.number(),
  local: z.number(),
  enabled: z.number(),
});
const btfEntry = z.object({ key: z.number(), value: btfOverlay });

function readU32(bytes: readonly string[], offset: number): number {
  let v = 0;
  for (let i = 3; i >= 0; i--) v = v * 256 + parseInt(bytes[offset + i] ?? '0', 16);
  return v >>> 0;
}

function readU64(bytes: readonly string[], offset: number): number {
  return readU32(bytes, offset) + readU32(bytes, offset + 4) * 2 ** 32;
}

/** The enabled entries, in table order, from `bpftool -j map dump` (with or without BTF formatting). */
export function decodeOverlayDump(json: string): OverlayEntry[] {
  const items = z.array(z.unknown()).parse(JSON.parse(json));
  const rows: { index: number; enabled: boolean; entry: OverlayEntry }[] = items.map((item) => {
    const formatted = btfEntry.safeParse((item as { formatted?: unknown }).formatted ?? item);
    if (formatted.success) {
      const v = formatted.data.value;
      return {
        index: formatted.data.key,
        enabled: v.enabled !== 0,
        entry: {
          overlay: v.overlay,
          overlayMask: v.overlay_mask,
          underlay: v.underlay,
          underlayMask: v.underlay_mask,
          shift: v.shift,
          vni: v.vni,
          local: v.local,
        },
      };
    }
    const raw = rawEntry.parse(item);
    const values = OVERLAY_FIELDS.map((_, i) => readU32(raw.value, i * 4));
    const [overlay = 0, overlayMask = 0, underlay = 0, underlayMask = 0, shift = 0, vni = 0, local = 0] = values;
    return {
      index: readU32(raw.key, 0),
      enabled: readU32(raw.value, 28) !== 0,
      entry: { overlay, overlayMask, underlay, underlayMask, shift, vni, local },
    };
  });
  rows.sort((a, b) => a.index - b.index);
  const table: OverlayEntry[] = [];
  for (const row of rows) {
    if (!row.enabled) break;
    table.push(row.entry);
  }
  return table;
}

export function emptyStats(): Stats {
  return { txPackets: 0, txBytes: 0, txDropLocal: 0, txDropNomatch: 0, rxPackets: 0, rxDropSpoof: 0 };
}

function addStats(into: Stats, from: Partial<Record<string, number>>, byCName: boolean): void {
  for (const f of STAT_FIELDS) into[f] += from[byCName ? C_STAT_NAMES[f] : f] ?? 0;
}

/** Per-index counters summed over CPUs, from `bpftool -j map dump` of the PERCPU_ARRAY. */
export function decodeStatsDump(json: string): Map<number, Stats> {
  const items = z.array(z.record(z.unknown())).parse(JSON.parse(json));
  const out = new Map<number, Stats>();
  for (const item of items) {
    const source = (item.formatted as Record<string, unknown> | undefined) ?? item;
    const key = source.key;
    const stats = emptyStats();
    let index: number;
    if (typeof key === 'number') {
      index = key;
      for (const cpu of z.array(z.object({ value: z.record(z.number()) })).parse(source.values))
        addStats(stats, cpu.value, true);
    } else {
      index = readU32(hexBytes.parse(key), 0);
      for (const cpu of z.array(z.object({ value: hexBytes })).parse(source.values)) {
        const values: Record<string, number> = {};
        STAT_FIELDS.forEach((f, i) => (values[f] = readU64(cpu.value, i * 8)));
        addStats(stats, values, false);
      }
    }
    out.set(index, stats);
  }
  return out;
}

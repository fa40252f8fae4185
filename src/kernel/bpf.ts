/**
 * Finds fan's eBPF programs through the tc attachments of this network namespace (`bpftool net`), not through
 * bpffs pins (`ip netns exec` remounts /sys, and an attachment belongs to its namespace anyway), then reads and
 * writes their maps with bpftool. A whole read is three listings plus one dump per table, whatever the number of
 * devices; a whole table write is one `bpftool batch`.
 */
import { z } from 'zod';
import {
  MAX_OVERLAYS,
  OVERLAY_MAP,
  STATS_MAP,
  type Stats,
  decodeOverlayDump,
  decodeStatsDump,
  emptyStats,
  keyHex,
  overlayValueHex,
} from '../codec/bpf-map.js';
import type { OverlayEntry, TcProgramState } from '../core/model/host-state.js';
import type { CommandRunner } from '../ports/runner.js';

const netShow = z.array(
  z
    .object({
      tc: z
        .array(
          z
            .object({ devname: z.string(), kind: z.string(), name: z.string().optional(), id: z.number() })
            .passthrough(),
        )
        .optional(),
    })
    .passthrough(),
);
const progList = z.array(
  z.object({ id: z.number(), name: z.string().optional(), map_ids: z.array(z.number()).optional() }).passthrough(),
);
const mapList = z.array(z.object({ id: z.number(), name: z.string().optional() }).passthrough());

/** A program of fan's attached to a device, with its maps. */
export interface FanProgram extends TcProgramState {
  readonly overlayMap?: number;
  readonly statsMap?: number;
}

const parse = <T>(schema: z.ZodType<T>, text: string): T => schema.parse(JSON.parse(text.trim() === '' ? '[]' : text));

export class BpfTables {
  constructor(private readonly runner: CommandRunner) {}

  /** fan's programs (function names fan_*) attached with tc in this namespace, on any device. */
  async programs(): Promise<FanProgram[]> {
    // The three listings at once (one round of processes, not two, for every fanctl up); the program and map
    // listings are wasted only on a host without any tc program.
    const [net, progsFirst, mapsFirst] = await Promise.all([
      this.runner.run(['bpftool', '-j', 'net', 'show'], { allowFailure: true }),
      this.runner.run(['bpftool', '-j', 'prog', 'show'], { allowFailure: true }),
      this.runner.run(['bpftool', '-j', 'map', 'show'], { allowFailure: true }),
    ]);
    if (net.exitCode !== 0) return [];
    const attached = parse(netShow, net.stdout).flatMap((entry) => entry.tc ?? []);
    if (attached.length === 0) return [];
    // A failed listing is run again without allowFailure, so it fails with its command and stderr.
    const [progsOut, mapsOut] = await Promise.all([
      progsFirst.exitCode === 0 ? progsFirst : this.runner.run(['bpftool', '-j', 'prog', 'show']),
      mapsFirst.exitCode === 0 ? mapsFirst : this.runner.run(['bpftool', '-j', 'map', 'show']),
    ]);
    const progs = new Map(parse(progList, progsOut.stdout).map((p) => [p.id, p]));
    const mapNames = new Map(parse(mapList, mapsOut.stdout).map((m) => [m.id, m.name]));
    const out: FanProgram[] = [];
    for (const tc of attached) {
      const prog = progs.get(tc.id);
      const direction = tc.kind.endsWith('egress') ? 'egress' : tc.kind.endsWith('ingress') ? 'ingress' : undefined;
      // Only fan's programs: on an underlay device others may have their own.
      if (!prog?.name?.startsWith('fan_') || direction === undefined) continue;
      const mapNamed = (name: string): number | undefined => prog.map_ids?.find((id) => mapNames.get(id) === name);
      const section = /\[([^\]]+)\]$/.exec(tc.name ?? '')?.[1];
      const overlayMap = mapNamed(OVERLAY_MAP);
      const statsMap = mapNamed(STATS_MAP);
      out.push({
        dev: tc.devname,
        direction,
        progId: tc.id,
        name: prog.name,
        ...(section !== undefined ? { section } : {}),
        ...(overlayMap !== undefined ? { overlayMap } : {}),
        ...(statsMap !== undefined ? { statsMap } : {}),
      });
    }
    return out;
  }

  /** Each program with the overlay table it reads. */
  async programsWithTables(): Promise<FanProgram[]> {
    const programs = await this.programs();
    return Promise.all(
      programs.map(async (p) =>
        p.overlayMap === undefined ? p : { ...p, overlays: await this.dumpOverlays(p.overlayMap) },
      ),
    );
  }

  private async dumpOverlays(mapId: number): Promise<OverlayEntry[]> {
    return decodeOverlayDump((await this.runner.run(['bpftool', '-j', 'map', 'dump', 'id', String(mapId)])).stdout);
  }

  /**
   * Writes the table into every program on `dev` (ingress and egress each load their own map), in one bpftool
   * batch. The entries and the one empty slot that ends the table (slots after it are never read) are written from
   * the end, so the programs never see a table ended early by a half write.
   */
  async writeOverlays(dev: string, overlays: readonly OverlayEntry[]): Promise<void> {
    if (overlays.length > MAX_OVERLAYS) {
      throw new Error(`at most ${MAX_OVERLAYS} overlays fit the eBPF table (${overlays.length} given)`);
    }
    const ids = [...new Set((await this.programs()).filter((p) => p.dev === dev).flatMap((p) => p.overlayMap ?? []))];
    if (ids.length === 0) throw new Error(`no eBPF program with map ${OVERLAY_MAP} is attached to ${dev}`);
    const lines: string[] = [];
    for (const id of ids) {
      for (let i = Math.min(overlays.length, MAX_OVERLAYS - 1); i >= 0; i--) {
        const value = overlayValueHex(overlays[i]);
        lines.push(['map', 'update', 'id', String(id), 'key', 'hex', ...keyHex(i), 'value', 'hex', ...value].join(' '));
      }
    }
    await this.runner.run(['bpftool', 'batch', 'file', '-'], { input: `${lines.join('\n')}\n` });
  }

  /** Counters per overlay index (and NOMATCH_INDEX), summed over CPUs and over every program on `dev`. */
  async readStats(dev: string, programs?: readonly FanProgram[]): Promise<Map<number, Stats>> {
    const total = new Map<number, Stats>();
    const ids = new Set(
      (programs ?? (await this.programs())).filter((p) => p.dev === dev).flatMap((p) => p.statsMap ?? []),
    );
    for (const id of ids) {
      const dump = decodeStatsDump((await this.runner.run(['bpftool', '-j', 'map', 'dump', 'id', String(id)])).stdout);
      for (const [index, stats] of dump) {
        const into = total.get(index) ?? emptyStats();
        for (const key of Object.keys(stats) as (keyof Stats)[]) into[key] += stats[key];
        total.set(index, into);
      }
    }
    return total;
  }
}

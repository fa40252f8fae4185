/**
 * Finds fan's eBPF programs through the tc filters on the tunnel device (not through bpffs pins: `ip netns exec`
 * remounts /sys, and a filter belongs to its namespace anyway), then reads and writes their maps with bpftool.
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

const tcFilter = z
  .object({
    kind: z.string().optional(),
    options: z.object({ prog: z.object({ id: z.number(), name: z.string().optional() }).passthrough().optional() }).passthrough().optional(),
  })
  .passthrough();
const progInfo = z.object({ id: z.number(), name: z.string().optional(), map_ids: z.array(z.number()).optional() }).passthrough();
const mapInfo = z.object({ id: z.number(), name: z.string().optional() }).passthrough();

export class BpfTables {
  constructor(private readonly runner: CommandRunner) {}

  /** Programs attached to `dev` in both directions (none when the device or its clsact qdisc is absent). */
  async programs(dev: string): Promise<TcProgramState[]> {
    const out: TcProgramState[] = [];
    for (const direction of ['ingress', 'egress'] as const) {
      const result = await this.runner.run(['tc', '-json', 'filter', 'show', 'dev', dev, direction], { allowFailure: true });
      if (result.exitCode !== 0 || result.stdout.trim() === '') continue;
      for (const filter of z.array(tcFilter).parse(JSON.parse(result.stdout))) {
        const prog = filter.options?.prog;
        // Only fan's programs (all named fan_*): on an underlay device others may have their own.
        if (filter.kind === 'bpf' && prog && prog.name?.startsWith('fan_')) out.push({ dev, direction, progId: prog.id, ...(prog.name ? { name: prog.name } : {}) });
      }
    }
    return out;
  }

  /** The id of the map called `name` used by program `progId`. */
  async mapId(progId: number, name: string): Promise<number | undefined> {
    const prog = progInfo.parse(JSON.parse((await this.runner.run(['bpftool', '-j', 'prog', 'show', 'id', String(progId)])).stdout));
    for (const id of prog.map_ids ?? []) {
      const map = mapInfo.parse(JSON.parse((await this.runner.run(['bpftool', '-j', 'map', 'show', 'id', String(id)])).stdout));
      if (map.name === name) return id;
    }
    return undefined;
  }

  private async mapIds(dev: string, name: string): Promise<number[]> {
    const ids = new Set<number>();
    for (const prog of await this.programs(dev)) {
      const id = await this.mapId(prog.progId, name);
      if (id !== undefined) ids.add(id);
    }
    return [...ids];
  }

  /** Writes the table into every attached program's map (ingress and egress each load their own). */
  async writeOverlays(dev: string, overlays: readonly OverlayEntry[]): Promise<void> {
    const ids = await this.mapIds(dev, OVERLAY_MAP);
    if (ids.length === 0) throw new Error(`no eBPF program with map ${OVERLAY_MAP} is attached to ${dev}`);
    if (overlays.length > MAX_OVERLAYS) throw new Error(`at most ${MAX_OVERLAYS} overlays fit the eBPF table (${overlays.length} given)`);
    for (const id of ids) {
      // The entries and the one empty slot that ends the table (slots after it are never read), written from the
      // end, so the programs never see a table ended early by a half write.
      for (let i = Math.min(overlays.length, MAX_OVERLAYS - 1); i >= 0; i--) {
        await this.runner.run(['bpftool', 'map', 'update', 'id', String(id), 'key', 'hex', ...keyHex(i), 'value', 'hex', ...overlayValueHex(overlays[i])]);
      }
    }
  }

  /** The table as the egress program sees it, or undefined when it is not attached. */
  async readOverlays(dev: string): Promise<OverlayEntry[] | undefined> {
    const egress = (await this.programs(dev)).find((p) => p.direction === 'egress');
    if (!egress) return undefined;
    const id = await this.mapId(egress.progId, OVERLAY_MAP);
    if (id === undefined) return undefined;
    return decodeOverlayDump((await this.runner.run(['bpftool', '-j', 'map', 'dump', 'id', String(id)])).stdout);
  }

  /** Counters per overlay index (and NOMATCH_INDEX), summed over CPUs and over both programs. */
  async readStats(dev: string): Promise<Map<number, Stats>> {
    const total = new Map<number, Stats>();
    for (const id of await this.mapIds(dev, STATS_MAP)) {
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

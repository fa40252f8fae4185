/**
 * The use cases behind `fanctl up`, `down` and `show`: read facts → plan (pure) → apply → read back and verify.
 * One lock per host serialises fanctl runs; the fans file is written only after the host converged.
 */
import { formatCidr, formatIpv4 } from '../core/address/ipv4.js';
import { type FanSpec, parseFanWords, toFanWords } from '../core/config/fan-spec.js';
import { bridgeNameOf } from '../core/mapping/fan.js';
import { type Fan, recordedUnderlay, resolveFans } from '../core/config/resolve.js';
import { ConfigError, FanError, StateError } from '../core/errors.js';
import type { HostFacts } from '../core/model/host-facts.js';
import { type CurrentHost, type OverlayEntry, isFanOwned } from '../core/model/host-state.js';
import { diffHost } from '../core/plan/diff.js';
import { diffPorts } from '../core/plan/ports.js';
import { fanMtu, planHost } from '../core/plan/host-plan.js';
import { backendOf } from '../backends/registry.js';
import { describeOp } from '../core/plan/ops.js';
import { NOMATCH_INDEX, type Stats, emptyStats } from '../codec/bpf-map.js';
import type { Dataplane } from '../kernel/dataplane.js';
import { requireHost } from '../kernel/probes.js';
import { reapplyPolicy } from './policy.js';
import { antiSpoofingDrops, reconcileBindings } from './port-bindings.js';
import type { HostReader, TextFiles } from '../ports/host.js';
import type { AttachmentRow } from '../core/attach/attachments.js';
import { readBridgeAttachments } from './attachments.js';
import type { CommandRunner } from '../ports/runner.js';
import { EventLog, type FanCommand, type FanEventRecord } from '../store/event-log.js';
import { type FanRecord, FanStateStore } from '../store/fan-state.js';
import { withLock } from '../store/lock.js';
import { ensurePrivateDir } from '../store/private-dir.js';
import type { FanPaths } from './paths.js';
import { forgetLeaseTable, readVethHomes, unbindPort } from './ports.js';

export interface HostDeps {
  readonly runner: CommandRunner;
  readonly host: HostReader;
  /** State files read by status (lease tables, dnsmasq's leases). */
  readonly files: TextFiles;
  readonly dataplane: Dataplane;
  readonly paths: FanPaths;
  readonly log: (line: string) => void;
}

export interface ChangeReport {
  readonly changes: readonly string[];
  readonly fans: readonly string[];
}

/** A record of the fans file with its words parsed once. */
interface Entry {
  readonly record: FanRecord;
  readonly spec: FanSpec;
}

const entryOf = (record: FanRecord): Entry => ({ record, spec: parseFanWords(record.words) });

/** Same fan = same overlay (a host maps each overlay once). */
function sameOverlay(a: FanSpec, b: FanSpec): boolean {
  return a.overlay.address === b.overlay.address && a.overlay.prefix === b.overlay.prefix;
}

/** Fans resolved against the host as it is, each falling back to what it resolved to when it came up. */
function resolveEntries(entries: readonly Entry[], facts: HostFacts, current: CurrentHost): Fan[] {
  const owned = new Set(current.links.filter(isFanOwned).map((l) => l.name));
  return resolveFans(
    entries.map((e) => e.spec),
    facts,
    owned,
    entries.map((e) => e.record.resolved),
  );
}

/** What `down` does to the containers of the fans that leave (src/app/ports.ts). */
interface Leaving {
  readonly bridges: ReadonlySet<string>;
  /** --force: their veths are deleted and their leases released. */
  readonly force: boolean;
}

/** Reconciles the host to `entries`, verifies it converged, then saves them with what they resolved to. */
async function converge(
  entries: readonly Entry[],
  deps: HostDeps,
  store: FanStateStore,
  leaving: Leaving = { bridges: new Set(), force: false },
): Promise<string[]> {
  const { facts, current } = await deps.dataplane.readHost();
  const fans = resolveEntries(entries, facts, current);
  const desired = planHost(fans, { stateDir: deps.paths.stateDir });
  // Containers' veths: back on a bridge made again, or (down --force) deleted with their fan.
  const detach = leaving.force ? leaving.bridges : new Set<string>();
  const plan = async (now: CurrentHost) => [
    ...diffHost(now, desired),
    ...diffPorts(now, desired, await readVethHomes(deps.paths.stateDir, now.links), detach),
  ];
  const ops = await plan(current);
  // Port binding follows the fans: its table rebuilt from fan's record of the ports it bound, before any bridge
  // exists (nothing else has changed yet if this fails).
  const bound = await reconcileBindings(
    { runner: deps.runner, host: deps.host, stateDir: deps.paths.stateDir, interfaces: facts.interfaces },
    fans,
  );
  if (ops.length > 0) {
    await requireHost(deps.runner, { bpfObject: deps.paths.bpfObject, dhcp: fans.some((f) => f.dhcp) });
    await deps.dataplane.apply(ops, deps.log);
    const left = await plan((await deps.dataplane.readHost()).current);
    if (left.length > 0) {
      throw new FanError(
        `the host did not converge; still to do:\n  ${left.map(describeOp).join('\n  ')}`,
        'run fanctl up again, and report a bug if it persists',
      );
    }
  }
  // What the deleted veths held: their port bindings and (with the fan) its lease table.
  for (const op of ops) if (op.kind === 'port-del') await unbindPort(deps.paths.stateDir, deps.runner, op.dev);
  for (const bridge of leaving.bridges) await forgetLeaseTable(deps.paths.stateDir, bridge, leaving.force);
  const records = entries.map((e, i) => {
    const fan = fans[i];
    return fan ? { ...e.record, resolved: recordedUnderlay(fan) } : e.record;
  });
  const before = await store.read();
  if (JSON.stringify(before) !== JSON.stringify(records)) await store.write(records);
  // The isolation policy follows the fans: applied again for the fans now up, removed with the last one.
  const policy = await reapplyPolicy({ runner: deps.runner, host: deps.host, paths: deps.paths, log: deps.log });
  return [
    ...ops.map(describeOp),
    ...(policy?.changed ? [`apply the isolation policy again (${policy.hash})`] : []),
    ...bound,
  ];
}

async function locked<T>(deps: HostDeps, work: (store: FanStateStore) => Promise<T>): Promise<T> {
  await ensurePrivateDir(deps.paths.stateDir); // 0700 whatever the umask; a clear error when it names a file
  const store = new FanStateStore(deps.paths.stateDir);
  return withLock(store.lockPath, () => work(store));
}

export async function upFans(specs: readonly FanSpec[], source: string, deps: HostDeps): Promise<ChangeReport> {
  return locked(deps, async (store) => {
    // A fan already up keeps its place: table order is lookup order, and a repeated `up` must change nothing.
    const wanted = specs
      .filter((s) => s.enabled)
      .map((spec) => ({ spec, record: { words: toFanWords(spec), source } }));
    const before = (await store.read()).map(entryOf);
    const kept: Entry[] = before.flatMap((entry) => {
      const replacement = wanted.find((w) => sameOverlay(w.spec, entry.spec));
      // The same words again keep what they resolved to; new words resolve afresh.
      if (replacement) return [sameWords(replacement.record, entry.record) ? entry : replacement];
      return specs.some((s) => sameOverlay(s, entry.spec)) ? [] : [entry]; // an `off` line takes its fan down
    });
    const added = wanted.filter((w) => !kept.some((k) => sameOverlay(k.spec, w.spec)));
    const next = [...kept, ...added];
    const changes = await counted(deps, 'up', () => converge(next, deps, store));
    await new EventLog(deps.paths.stateDir).add(upEvents(before, next, changes.length > 0));
    return { changes, fans: next.map((e) => e.record.words.join(' ')) };
  });
}

const bridgeOfEntry = (e: Entry): string => e.spec.bridge ?? bridgeNameOf(e.spec.overlay);

/** Runs `work`, counting a failure of `command` in the event log (for the metrics endpoint) when it throws. */
async function counted<T>(deps: HostDeps, command: FanCommand, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    await new EventLog(deps.paths.stateDir).add([], command).catch(() => undefined);
    throw error;
  }
}

/**
 * The events of one successful `up`: each fan that was not up (or came with new words) came up; when the run only
 * had fans that were up already and still changed the kernel, each of them was repaired.
 */
function upEvents(before: readonly Entry[], after: readonly Entry[], changed: boolean): FanEventRecord[] {
  const fresh = after.filter((a) => !before.some((b) => sameOverlay(a.spec, b.spec) && sameWords(a.record, b.record)));
  if (fresh.length > 0) return fresh.map((e) => ({ bridge: bridgeOfEntry(e), event: 'up' }));
  return changed ? after.map((e) => ({ bridge: bridgeOfEntry(e), event: 'repair' })) : [];
}

function sameWords(a: FanRecord, b: FanRecord): boolean {
  return a.source === b.source && a.words.join('\0') === b.words.join('\0');
}

export interface DownRequest {
  /** Which fans: given specs, those from a config file, or every fan. */
  readonly select: { readonly specs: readonly FanSpec[] } | { readonly source: string } | { readonly all: true };
  readonly force: boolean;
}

export async function downFans(request: DownRequest, deps: HostDeps): Promise<ChangeReport> {
  return locked(deps, async (store) => {
    const entries = (await store.read()).map(entryOf);
    const select = request.select;
    const leaving = entries.filter((e) =>
      'all' in select
        ? true
        : 'source' in select
          ? e.record.source === select.source
          : select.specs.some((s) => sameOverlay(e.spec, s)),
    );
    if ('specs' in select) {
      for (const spec of select.specs) {
        if (!entries.some((e) => sameOverlay(e.spec, spec))) {
          throw new ConfigError(
            `no fan with overlay ${formatCidr(spec.overlay)} is up on this host`,
            'see the fans that are up with fanctl show',
          );
        }
      }
    }
    // Leaving fans need no resolution: their bridges are named in the records and everything else of fan's that no
    // remaining fan wants is removed by the diff.
    const current = await deps.dataplane.readCurrent();
    const bridges = new Set(leaving.map(bridgeOfEntry));
    const attached = current.links.filter((l) => l.master !== undefined && bridges.has(l.master));
    // Containers cut off from a bridge deleted by hand are still attached to its fan.
    const homeless = (await readVethHomes(deps.paths.stateDir, current.links)).filter(
      (h) => !h.attached && bridges.has(h.bridge),
    );
    if ((attached.length > 0 || homeless.length > 0) && !request.force) {
      const names = [
        ...attached.map((l) => `${l.name} on ${l.master ?? '?'}`),
        ...homeless.map((h) => `${h.dev} (of ${h.bridge}, on no bridge)`),
      ];
      throw new StateError(
        `containers are still attached: ${names.join(', ')}`,
        'stop those containers first, or pass --force to detach them',
      );
    }
    const next = entries.filter((e) => !leaving.includes(e));
    const changes = await counted(deps, 'down', () => converge(next, deps, store, { bridges, force: request.force }));
    await new EventLog(deps.paths.stateDir).add(leaving.map((e) => ({ bridge: bridgeOfEntry(e), event: 'down' })));
    return { changes, fans: next.map((e) => e.record.words.join(' ')) };
  });
}

export interface FanStatus {
  bridge: string;
  overlay: string;
  underlay: string;
  underlayHost: string;
  underlayDevice: string;
  slice: string;
  gateway: string;
  vni: number;
  mtu: number;
  type: string;
  dhcp: { enabled: boolean; pid?: number; leaseFile?: string };
  hostReserve: number;
  flags: string;
  source: string;
  bridgeUp: boolean;
  attached: string[];
  /** Containers on the bridge: address, interfaces, runtime and owner, from the leases and the bridge's ports. */
  containers: AttachmentRow[];
  counters: Stats;
}

export interface HostStatus {
  fans: FanStatus[];
  tunnel?: {
    name: string;
    mtu: number;
    up: boolean;
    programs: { direction: string; progId: number; name?: string }[];
    unmatched: Stats;
  };
  nftTable: boolean;
  forwardRules: string[];
  /** Packets dropped by each anti-spoofing layer: the port binding, and fan's ip table (docs/anti-spoofing.md). */
  antiSpoofing?: { binding: number; forward: number; input: number };
}

export function flagsOf(fan: Fan): string {
  return [fan.dhcp ? 'dhcp' : '', `host-reserve ${fan.hostReserve}`, fan.type === 'vxlan' ? '' : `type ${fan.type}`]
    .filter(Boolean)
    .join(' ');
}

/** A fan's counters: its row in each program that counts it (the peer device's, and a fast path's). */
function fanCounters(
  fan: Fan,
  tables: ReadonlyMap<string, { table: readonly OverlayEntry[]; stats: Map<number, Stats> }>,
): Stats {
  const backend = backendOf(fan);
  const total = emptyStats();
  for (const dev of backend.counterDevices?.(fan) ?? [backend.peerDevice(fan)]) {
    const program = tables.get(dev);
    const index = program?.table.findIndex((e) => e.overlay === fan.map.overlay.address && e.local === fan.host.host);
    const stats = index !== undefined && index >= 0 ? program?.stats.get(index) : undefined;
    if (stats) for (const key of Object.keys(stats) as (keyof Stats)[]) total[key] += stats[key];
  }
  return total;
}

export async function hostStatus(deps: HostDeps): Promise<HostStatus> {
  const store = new FanStateStore(deps.paths.stateDir);
  const entries = (await store.read()).map(entryOf);
  const { facts, current } = await deps.dataplane.readHost();
  const fans = resolveEntries(entries, facts, current);
  const programs = current.tcPrograms;
  // Counters live in the programs' maps: the tunnel's for vxlan fans, the underlay device's for host-gw fans.
  const tables = new Map<string, { table: readonly OverlayEntry[]; stats: Map<number, Stats> }>();
  for (const dev of new Set(programs.map((p) => p.dev))) {
    const onDev = programs.filter((p) => p.dev === dev);
    const table = (onDev.find((p) => p.direction === 'egress') ?? onDev[0])?.overlays ?? [];
    tables.set(dev, { table, stats: await deps.dataplane.bpf.readStats(dev, programs) });
  }
  const containers = new Map<string, AttachmentRow[]>();
  for (const fan of fans) {
    containers.set(
      fan.bridge,
      await readBridgeAttachments({ files: deps.files, stateDir: deps.paths.stateDir }, fan.bridge, facts),
    );
  }
  const tunnelLink = current.links.find((l) => l.kind === 'vxlan' && isFanOwned(l));
  const tunnelStats = (tunnelLink && tables.get(tunnelLink.name)?.stats) || new Map<number, Stats>();
  return {
    fans: fans.map((fan, i) => {
      const link = current.links.find((l) => l.name === fan.bridge);
      const dhcp = current.dhcp.find((d) => d.bridge === fan.bridge);
      return {
        bridge: fan.bridge,
        overlay: formatCidr(fan.map.overlay),
        underlay: formatCidr(fan.map.underlay),
        underlayHost: formatIpv4(fan.host.host),
        underlayDevice: fan.device,
        slice: formatCidr(fan.host.slice),
        gateway: formatIpv4(fan.host.gateway),
        vni: fan.host.vni,
        mtu: link?.mtu ?? fanMtu(fan),
        type: fan.type,
        dhcp: {
          enabled: fan.dhcp,
          ...(dhcp ? { pid: dhcp.pid, leaseFile: `${deps.paths.stateDir}/${fan.bridge}.leases` } : {}),
        },
        hostReserve: fan.hostReserve,
        flags: flagsOf(fan),
        source: entries[i]?.record.source ?? 'cli',
        bridgeUp: link?.up ?? false,
        attached: current.links.filter((l) => l.master === fan.bridge).map((l) => l.name),
        containers: containers.get(fan.bridge) ?? [],
        counters: fanCounters(fan, tables),
      };
    }),
    ...(tunnelLink
      ? {
          tunnel: {
            name: tunnelLink.name,
            mtu: tunnelLink.mtu,
            up: tunnelLink.up,
            programs: programs
              .filter((p) => p.dev === tunnelLink.name)
              .map((p) => ({ direction: p.direction, progId: p.progId, ...(p.name ? { name: p.name } : {}) })),
            unmatched: tunnelStats.get(NOMATCH_INDEX) ?? emptyStats(),
          },
        }
      : {}),
    nftTable: current.nftKey !== undefined,
    forwardRules: current.forwardAccept.map((a) => `${a.bridge} (from ${a.from || '?'})`),
    ...(fans.length > 0 ? { antiSpoofing: await antiSpoofingDrops(deps.runner) } : {}),
  };
}

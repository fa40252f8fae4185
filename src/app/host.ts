/**
 * The use cases behind `fanctl up`, `down` and `show`: read facts → plan (pure) → apply → read back and verify.
 * One lock per host serialises fanctl runs; the fans file is written only after the host converged.
 */
import { formatCidr, formatIpv4 } from '../core/address/ipv4.js';
import { type FanSpec, parseFanWords, toFanWords } from '../core/config/fan-spec.js';
import { type Fan, resolveFans } from '../core/config/resolve.js';
import { ConfigError, FanError, StateError } from '../core/errors.js';
import { type CurrentHost, type OverlayEntry, TUNNEL_DEVICE, isFanOwned } from '../core/model/host-state.js';
import { diffHost } from '../core/plan/diff.js';
import { fanMtu, planHost } from '../core/plan/host-plan.js';
import { describeOp } from '../core/plan/ops.js';
import { NOMATCH_INDEX, type Stats, emptyStats } from '../codec/bpf-map.js';
import type { Dataplane } from '../kernel/dataplane.js';
import { requireHost, requireRoot } from '../kernel/probes.js';
import type { HostReader } from '../ports/host.js';
import type { CommandRunner } from '../ports/runner.js';
import { type FanRecord, FanStateStore } from '../store/fan-state.js';
import { withLock } from '../store/lock.js';
import { ensurePrivateDir } from '../store/private-dir.js';
import type { FanPaths } from './paths.js';

export interface HostDeps {
  readonly runner: CommandRunner;
  readonly host: HostReader;
  readonly dataplane: Dataplane;
  readonly paths: FanPaths;
  readonly log: (line: string) => void;
}

export interface ChangeReport {
  readonly changes: readonly string[];
  readonly fans: readonly string[];
}

function recordSpec(record: FanRecord): FanSpec {
  return parseFanWords(record.words);
}

/** Same fan = same overlay (a host maps each overlay once). */
function sameOverlay(a: FanSpec, b: FanSpec): boolean {
  return a.overlay.address === b.overlay.address && a.overlay.prefix === b.overlay.prefix;
}

async function resolveRecords(records: readonly FanRecord[], deps: HostDeps, current: CurrentHost): Promise<Fan[]> {
  const owned = new Set(current.links.filter(isFanOwned).map((l) => l.name));
  return resolveFans(records.map(recordSpec), await deps.host.readFacts(), owned);
}

/** Reconciles the host to `records`, verifies it converged, then saves `records`. */
async function converge(records: readonly FanRecord[], deps: HostDeps, store: FanStateStore): Promise<string[]> {
  let current = await deps.dataplane.readCurrent();
  const fans = await resolveRecords(records, deps, current);
  if (fans.length > 0) {
    await requireHost(deps.runner, { bpfObject: deps.paths.bpfObject, dhcp: fans.some((f) => f.dhcp) });
  }
  const desired = planHost(fans, { stateDir: deps.paths.stateDir });
  const hostGwDevices = desired.hostGw.map((h) => h.dev);
  // A device fan has no route or neighbour on yet was not inspected by the first read: read again, looking at it.
  if (hostGwDevices.some((dev) => !current.hostGw.some((h) => h.dev === dev))) current = await deps.dataplane.readCurrent(hostGwDevices);
  const ops = diffHost(current, desired);
  await deps.dataplane.apply(ops, deps.log);
  const left = diffHost(await deps.dataplane.readCurrent(hostGwDevices), desired);
  if (left.length > 0) {
    throw new FanError(`the host did not converge; still to do:\n  ${left.map(describeOp).join('\n  ')}`, 'run fanctl up again, and report a bug if it persists');
  }
  await store.write(records);
  return ops.map(describeOp);
}

async function locked<T>(deps: HostDeps, work: (store: FanStateStore) => Promise<T>): Promise<T> {
  requireRoot('fanctl up/down');
  await ensurePrivateDir(deps.paths.stateDir); // 0700 whatever the umask; a clear error when it names a file
  const store = new FanStateStore(deps.paths.stateDir);
  return withLock(store.lockPath, () => work(store));
}

export async function upFans(specs: readonly FanSpec[], source: string, deps: HostDeps): Promise<ChangeReport> {
  return locked(deps, async (store) => {
    // A fan already up keeps its place: table order is lookup order, and a repeated `up` must change nothing.
    const wanted = specs.filter((s) => s.enabled).map((s) => ({ spec: s, record: { words: toFanWords(s), source } }));
    const records = (await store.read()).flatMap((r) => {
      const spec = recordSpec(r);
      const replacement = wanted.find((w) => sameOverlay(w.spec, spec));
      if (replacement) return [replacement.record];
      return specs.some((s) => sameOverlay(s, spec)) ? [] : [r]; // an `off` line takes its fan down
    });
    const next = [...records, ...wanted.filter((w) => !records.includes(w.record)).map((w) => w.record)];
    const changes = await converge(next, deps, store);
    return { changes, fans: next.map((r) => r.words.join(' ')) };
  });
}

export interface DownRequest {
  /** Which fans: given specs, those from a config file, or every fan. */
  readonly select: { readonly specs: readonly FanSpec[] } | { readonly source: string } | { readonly all: true };
  readonly force: boolean;
}

export async function downFans(request: DownRequest, deps: HostDeps): Promise<ChangeReport> {
  return locked(deps, async (store) => {
    const records = await store.read();
    const select = request.select;
    const leaving = records.filter((r) =>
      'all' in select ? true : 'source' in select ? r.source === select.source : select.specs.some((s) => sameOverlay(recordSpec(r), s)),
    );
    if ('specs' in select) {
      for (const spec of select.specs) {
        if (!records.some((r) => sameOverlay(recordSpec(r), spec))) {
          throw new ConfigError(`no fan with overlay ${formatCidr(spec.overlay)} is up on this host`, 'see the fans that are up with fanctl show');
        }
      }
    }
    const current = await deps.dataplane.readCurrent();
    const leavingFans = await resolveRecords(leaving, deps, current);
    const attached = current.links.filter((l) => l.master !== undefined && leavingFans.some((f) => f.bridge === l.master));
    if (attached.length > 0 && !request.force) {
      throw new StateError(
        `containers are still attached: ${attached.map((l) => `${l.name} on ${l.master ?? '?'}`).join(', ')}`,
        'stop those containers first, or pass --force to detach them',
      );
    }
    const next = records.filter((r) => !leaving.includes(r));
    const changes = await converge(next, deps, store);
    return { changes, fans: next.map((r) => r.words.join(' ')) };
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
  counters: Stats;
}

export interface HostStatus {
  fans: FanStatus[];
  tunnel?: { name: string; mtu: number; up: boolean; programs: { direction: string; progId: number; name?: string }[]; unmatched: Stats };
  nftTable: boolean;
  forwardRules: string[];
}

export function flagsOf(fan: Fan): string {
  return [fan.dhcp ? 'dhcp' : '', `host-reserve ${fan.hostReserve}`, fan.type === 'vxlan' ? '' : `type ${fan.type}`].filter(Boolean).join(' ');
}

export async function hostStatus(deps: HostDeps): Promise<HostStatus> {
  const store = new FanStateStore(deps.paths.stateDir);
  const records = await store.read();
  const current = await deps.dataplane.readCurrent();
  const fans = await resolveRecords(records, deps, current);
  const tunnelLink = current.links.find((l) => l.name === TUNNEL_DEVICE && isFanOwned(l));
  // Counters live in the programs' maps: the tunnel's for vxlan fans, the underlay device's for host-gw fans.
  const tables = new Map<string, { table: readonly OverlayEntry[]; stats: Map<number, Stats> }>();
  if (tunnelLink && current.tcPrograms.length > 0) {
    tables.set(TUNNEL_DEVICE, { table: current.overlayTable ?? [], stats: await deps.dataplane.bpf.readStats(TUNNEL_DEVICE) });
  }
  for (const hg of current.hostGw) {
    if (hg.attached) tables.set(hg.dev, { table: hg.overlays ?? [], stats: await deps.dataplane.bpf.readStats(hg.dev) });
  }
  const tunnelStats = tables.get(TUNNEL_DEVICE)?.stats ?? new Map<number, Stats>();
  return {
    fans: fans.map((fan, i) => {
      const link = current.links.find((l) => l.name === fan.bridge);
      const dhcp = current.dhcp.find((d) => d.bridge === fan.bridge);
      const program = tables.get(fan.type === 'vxlan' ? TUNNEL_DEVICE : fan.device);
      const index = program?.table.findIndex((e) => e.overlay === fan.map.overlay.address && e.local === fan.host.host) ?? -1;
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
        dhcp: { enabled: fan.dhcp, ...(dhcp ? { pid: dhcp.pid, leaseFile: `${deps.paths.stateDir}/${fan.bridge}.leases` } : {}) },
        hostReserve: fan.hostReserve,
        flags: flagsOf(fan),
        source: records[i]?.source ?? 'cli',
        bridgeUp: link?.up ?? false,
        attached: current.links.filter((l) => l.master === fan.bridge).map((l) => l.name),
        counters: (index >= 0 ? program?.stats.get(index) : undefined) ?? emptyStats(),
      };
    }),
    ...(tunnelLink
      ? {
          tunnel: {
            name: tunnelLink.name,
            mtu: tunnelLink.mtu,
            up: tunnelLink.up,
            programs: current.tcPrograms.map((p) => ({ direction: p.direction, progId: p.progId, ...(p.name ? { name: p.name } : {}) })),
            unmatched: tunnelStats.get(NOMATCH_INDEX) ?? emptyStats(),
          },
        }
      : {}),
    nftTable: current.nftKey !== undefined,
    forwardRules: current.forwardAccept.map((a) => `${a.bridge} (from ${a.from || '?'})`),
  };
}


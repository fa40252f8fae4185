/**
 * What every doctor check starts from, read once: the fans recorded in the state file, resolved against the host
 * as `fanctl up` would, the plan they give, and what the kernel holds of fan's objects now.
 */
import { parseFanWords } from '../core/config/fan-spec.js';
import { type Fan, resolveFans } from '../core/config/resolve.js';
import { errorMessage } from '../core/errors.js';
import type { HostFacts } from '../core/model/host-facts.js';
import { type CurrentHost, type DesiredHost, FAN_ROUTE_PROTO, isFanOwned } from '../core/model/host-state.js';
import { planHost } from '../core/plan/host-plan.js';
import type { BpfTables } from '../kernel/bpf.js';
import type { Dataplane } from '../kernel/dataplane.js';
import type { HostReader } from '../ports/host.js';
import type { CommandRunner } from '../ports/runner.js';
import { type FanRecord, FanStateStore } from '../store/fan-state.js';
import type { FanPaths } from '../app/paths.js';
import { type DhcpProbe, dhcpDiscover } from '../kernel/dhcp-probe.js';

export interface DoctorContext {
  readonly runner: CommandRunner;
  readonly paths: FanPaths;
  readonly bpf: BpfTables;
  readonly records: readonly FanRecord[];
  readonly facts: HostFacts;
  /** The recorded fans, resolved against this host (empty when resolving failed: see resolveError). */
  readonly fans: readonly Fan[];
  readonly resolveError?: string;
  readonly desired: DesiredHost;
  readonly current: CurrentHost;
  /** Underlay addresses of peer hosts given with --peer. */
  readonly peers: readonly string[];
  /** The command that brings this host's fans back to what they should be. */
  readonly reup: string;
  /** Sends one DHCPDISCOVER to a bridge's broadcast address and waits for the offer. */
  readonly dhcpProbe: (broadcast: string) => Promise<DhcpProbe>;
}

export interface DoctorDeps {
  readonly runner: CommandRunner;
  readonly host: HostReader;
  readonly dataplane: Dataplane;
  readonly paths: FanPaths;
  readonly dhcpProbe?: (broadcast: string) => Promise<DhcpProbe>;
}

const EMPTY_DESIRED: DesiredHost = { bridges: [], devices: [], routes: [], forwardAccept: [], dhcp: [] };

/**
 * resolveFans refuses an overlay some route overlaps; the doctor resolves without those routes (only the default
 * route and fan's own matter for resolution) so that the overlap check can name the route instead.
 */
function resolutionFacts(facts: HostFacts): HostFacts {
  return {
    interfaces: facts.interfaces,
    routes: facts.routes.filter((r) => r.dst.prefix === 0 || r.protocol === String(FAN_ROUTE_PROTO)),
  };
}

export function reupCommand(records: readonly FanRecord[]): string {
  if (records.length === 0) return 'fanctl up -o OVERLAY -u UNDERLAY';
  const file = records.find((r) => r.source !== 'cli');
  const cli = records.filter((r) => r.source === 'cli').map((r) => `fanctl up ${r.words.join(' ')}`);
  return [...(file ? [`fanctl up -a --config ${file.source}`] : []), ...cli].join(' && ');
}

export async function gatherContext(deps: DoctorDeps, peers: readonly string[]): Promise<DoctorContext> {
  const records = await new FanStateStore(deps.paths.stateDir).read();
  const { facts, current } = await deps.dataplane.readHost();
  const owned = new Set(current.links.filter(isFanOwned).map((i) => i.name));
  let fans: Fan[] = [];
  let desired = EMPTY_DESIRED;
  let resolveError: string | undefined;
  try {
    fans = resolveFans(
      records.map((r) => parseFanWords(r.words)),
      resolutionFacts(facts),
      owned,
      records.map((r) => r.resolved),
    );
    desired = planHost(fans, { stateDir: deps.paths.stateDir });
  } catch (error) {
    fans = [];
    resolveError = errorMessage(error);
  }
  return {
    runner: deps.runner,
    paths: deps.paths,
    bpf: deps.dataplane.bpf,
    records,
    facts,
    fans,
    ...(resolveError !== undefined ? { resolveError } : {}),
    desired,
    current,
    peers,
    reup: reupCommand(records),
    dhcpProbe: deps.dhcpProbe ?? ((broadcast) => dhcpDiscover(broadcast)),
  };
}

/**
 * `fanctl trace`: gathers what the pure path computation cannot know (the containers attached here, whether the
 * computed underlay host answers ARP), computes the path, and with --probe sends a real ping from the source and
 * reports which counters moved and where the packet stopped, next to what the trace predicted.
 */
import { type Ipv4, contains, formatIpv4, parseIpv4 } from '../core/address/ipv4.js';
import { ConfigError } from '../core/errors.js';
import { underlayHostOf } from '../core/mapping/fan.js';
import { TUNNEL_DEVICE } from '../backends/vxlan/backend.js';
import { type Endpoint, type StopKind, type Trace, type TraceFacts, tracePath } from '../core/trace/path.js';
import type { PolicyVerdict } from '../core/trace/policy.js';
import { parseProto } from '../core/trace/proto.js';
import { answersArp, movedCounters, neighbourState, pingFrom, readCounters } from '../kernel/trace-probes.js';
import { readBridgePorts } from '../kernel/veth-peers.js';
import { readFanView } from './fans.js';
import type { HostDeps } from './host.js';
import { carriesVxlan } from '../backends/registry.js';

export interface TraceOptions {
  readonly src: string;
  readonly dst: string;
  readonly proto?: string;
  readonly probe: boolean;
  /** The source container's network namespace: a name under /run/netns or a path (/proc/PID/ns/net). */
  readonly netns?: string;
  readonly policy?: PolicyVerdict;
}

/** Where the probe saw the packet stop; `beyond` = it left this host (towards the peer or the outside). */
export type ObservedStop = StopKind | 'ebpf-drop' | 'nft-drop' | 'beyond' | 'this-host';

export interface ProbeReport {
  readonly from: string;
  readonly command: string;
  readonly transmitted: number;
  readonly received: number;
  readonly moved: readonly { readonly counter: string; readonly delta: number }[];
  readonly outcome: 'delivered' | 'dropped';
  readonly stoppedAt?: ObservedStop;
  readonly detail: string;
  /** Whether the probe agrees with the computed path. */
  readonly matches: boolean;
  readonly note: string;
}

export interface TraceReport extends Trace {
  readonly probe?: ProbeReport;
}

function address(text: string, what: string): Ipv4 {
  try {
    return parseIpv4(text);
  } catch {
    throw new ConfigError(`${what} "${text}" is not an IPv4 address`, `give ${what} as an address, e.g. 250.0.11.2`);
  }
}

export async function traceCommand(opts: TraceOptions, deps: HostDeps): Promise<TraceReport> {
  const src = address(opts.src, 'SRC');
  const dst = address(opts.dst, 'DST');
  const proto = parseProto(opts.proto);
  const view = await readFanView({ host: deps.host, stateDir: deps.paths.stateDir });
  if (view.fans.length === 0)
    throw new ConfigError('no fan is up on this host', 'bring one up first: fanctl up -o OVERLAY -u UNDERLAY');
  const ports = await readBridgePorts(
    deps.runner,
    view.fans.map((f) => f.bridge),
  );
  const endpoints: Endpoint[] = ports.flatMap((p) =>
    (p.peer?.addresses ?? []).map((a) => ({
      address: a.address,
      bridge: p.bridge,
      hostIf: p.hostIf,
      mtu: p.peer?.mtu ?? p.mtu,
      ...(p.peer ? { netns: p.peer.netns, ifname: p.peer.ifname } : {}),
    })),
  );
  const unresolvedPorts = ports.filter((p) => p.peer === undefined).length;
  // The one ARP question the path depends on: does the computed underlay host exist?
  const underlayAnswers = new Map<Ipv4, boolean>();
  const dstFan = view.fans.find((f) => contains(f.map.overlay, dst) && !contains(f.host.slice, dst));
  let remote: Ipv4 | undefined;
  if (dstFan) {
    remote = underlayHostOf(dstFan.map, dst);
    underlayAnswers.set(remote, await answersArp(deps.runner, formatIpv4(remote), dstFan.device));
  }
  const facts: TraceFacts = {
    fans: view.fans,
    routes: view.facts.routes,
    interfaces: view.facts.interfaces,
    endpoints,
    unresolvedPorts,
    underlayAnswers,
  };
  const trace = tracePath(facts, { src, dst, proto, ...(opts.policy ? { policy: opts.policy } : {}) });
  if (!opts.probe) return trace;

  // Where to send from: the caller's namespace, the source container's (found through its veth), or the host.
  const srcEndpoint = endpoints.find((e) => e.address === src);
  const srcIsHost = view.facts.interfaces.some((i) => i.addresses.some((a) => a.address === src));
  let prefix: string[];
  let from: string;
  if (opts.netns !== undefined) {
    prefix = opts.netns.includes('/') ? ['nsenter', `--net=${opts.netns}`] : ['ip', 'netns', 'exec', opts.netns];
    from = `namespace ${opts.netns}`;
  } else if (srcEndpoint?.netns !== undefined) {
    prefix = ['ip', 'netns', 'exec', srcEndpoint.netns];
    from = `container namespace ${srcEndpoint.netns}`;
  } else if (srcIsHost) {
    prefix = [];
    from = `this host, source ${opts.src}`;
  } else {
    throw new ConfigError(
      `cannot find the network namespace of ${opts.src} to send the probe from`,
      'pass --netns NAME|PATH (e.g. /proc/PID/ns/net of the container), or trace from the bridge address',
    );
  }
  const devices = [...new Set(view.fans.map((f) => (carriesVxlan(f) ? TUNNEL_DEVICE : f.device)))];
  const before = await readCounters(deps.runner, deps.dataplane.bpf, devices);
  const ping = await pingFrom(deps.runner, prefix, opts.dst, prefix.length === 0 ? opts.src : undefined);
  const after = await readCounters(deps.runner, deps.dataplane.bpf, devices);
  const moved = movedCounters(before, after);
  const observed = await observe(
    deps,
    trace,
    ping,
    moved,
    { ...(remote !== undefined && dstFan ? { remote: formatIpv4(remote), dev: dstFan.device } : {}) },
    view.fans.find((f) => contains(f.host.slice, dst))?.bridge,
    prefix,
  );
  const matches = agrees(trace, observed.outcome, observed.stoppedAt, moved);
  return {
    ...trace,
    probe: {
      from,
      command: [...prefix, 'ping', opts.dst].join(' '),
      transmitted: ping.transmitted,
      received: ping.received,
      moved,
      ...observed,
      matches,
      note: proto.name === 'icmp' ? '' : `the probe is an ICMP echo; ${proto.name} follows the same path here`,
    },
  };
}

async function observe(
  deps: HostDeps,
  trace: Trace,
  ping: { received: number; error?: string },
  moved: readonly { counter: string; delta: number }[],
  underlay: { remote?: string; dev?: string },
  localBridge: string | undefined,
  prefix: readonly string[],
): Promise<{ outcome: 'delivered' | 'dropped'; stoppedAt?: ObservedStop; detail: string }> {
  if (ping.received > 0) return { outcome: 'delivered', detail: `${ping.received} answer(s) came back` };
  const has = (re: RegExp): boolean => moved.some((m) => re.test(m.counter));
  if (has(/: txDrop(Local|Nomatch)$/))
    return {
      outcome: 'dropped',
      stoppedAt: 'ebpf-drop',
      detail: "fan's eBPF egress program dropped it (see the counters)",
    };
  if (has(/anti-spoofing/))
    return { outcome: 'dropped', stoppedAt: 'nft-drop', detail: "fan's nftables anti-spoofing rule dropped it" };
  if (underlay.remote !== undefined && underlay.dev !== undefined) {
    const state = await neighbourState(deps.runner, underlay.remote, underlay.dev);
    if (state === 'FAILED' || state === 'INCOMPLETE')
      return {
        outcome: 'dropped',
        stoppedAt: 'underlay-arp',
        detail: `the neighbour entry for ${underlay.remote} on ${underlay.dev} is ${state}: no host answered ARP`,
      };
  }
  if (localBridge !== undefined) {
    // A container on the same slice asks ARP itself; otherwise the host asks on the bridge.
    const inContainer =
      prefix.length > 0
        ? await deps.runner.run([...prefix, 'ip', '-json', '-4', 'neigh', 'show', trace.dst], { allowFailure: true })
        : undefined;
    const containerState = (JSON.parse(inContainer?.stdout || '[]') as { state?: string[] }[])[0]?.state?.[0];
    const state = containerState ?? (await neighbourState(deps.runner, trace.dst, localBridge));
    if (state === undefined || state === 'FAILED' || state === 'INCOMPLETE')
      return {
        outcome: 'dropped',
        stoppedAt: 'bridge-arp',
        detail: `no answer to ARP for ${trace.dst} on ${localBridge} (${state ?? 'no entry'})`,
      };
  }
  if (/unreachable/i.test(ping.error ?? '') && !has(/txPackets$|masquerade/))
    return { outcome: 'dropped', stoppedAt: 'no-route', detail: ping.error ?? 'network unreachable' };
  if (has(/txPackets$|masquerade/))
    return {
      outcome: 'dropped',
      stoppedAt: 'beyond',
      detail: 'it left this host (counters moved) and no answer came back: lost at the peer or on the way',
    };
  return {
    outcome: 'dropped',
    stoppedAt: 'this-host',
    detail: `no counter moved and no answer came back${ping.error ? `: ${ping.error}` : ''}`,
  };
}

/** The probe agrees with the path when the outcome and the stop match, and the counters the path expects moved. */
export function agrees(
  trace: Trace,
  outcome: 'delivered' | 'dropped',
  stoppedAt: ObservedStop | undefined,
  moved: readonly { counter: string }[],
): boolean {
  const tx = moved.some((m) => /: txPackets$/.test(m.counter));
  const masq = moved.some((m) => /masquerade|egress NAT/.test(m.counter));
  if (trace.expect.ebpfTx && !tx) return false;
  if (trace.expect.masquerade && !masq) return false;
  if (trace.outcome === 'dropped') return outcome === 'dropped' && stoppedAt === trace.stop?.kind;
  if (trace.outcome === 'delivered') return outcome === 'delivered';
  return true;
}

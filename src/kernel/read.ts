/**
 * Reads the host once: the facts the planner resolves fans against and everything of fan's that the diff compares,
 * from the same listings. One `ip address`, one `ip route`, one `ip neigh`, the BPF listings (src/kernel/bpf.ts), one
 * `nft list table` and one `iptables -S`, run concurrently; the rest comes from the state directory and /proc.
 */
import { z } from 'zod';
import { decodeAddressShow, decodeRouteShow } from '../codec/ip-json.js';
import { decodeForwardRules } from '../codec/ops/iptables.js';
import { decodeNftKey } from '../codec/nft.js';
import { decodeIngressBlocks } from '../codec/tc-json.js';
import { parseIpv4 } from '../core/address/ipv4.js';
import type { HostFacts, InterfaceFacts } from '../core/model/host-facts.js';
import {
  type CurrentHost,
  type DhcpSpec,
  type DhcpState,
  type HostGwState,
  type LinkState,
  type NeighbourState,
  type TcProgramState,
  FAN_NFT_TABLE,
  FAN_ONLINK_GATEWAY,
  FAN_ROUTE_PROTO,
  isFanOwned,
} from '../core/model/host-state.js';
import type { CommandRunner } from '../ports/runner.js';
import type { System } from '../ports/system.js';
import type { BpfTables, FanProgram } from './bpf.js';

export interface HostSnapshot {
  readonly facts: HostFacts;
  readonly current: CurrentHost;
}

const neighbourList = z.array(
  z.object({ dst: z.string(), dev: z.string().optional(), lladdr: z.string().optional() }).passthrough(),
);
const dhcpSpecSchema: z.ZodType<DhcpSpec> = z.object({
  bridge: z.string(),
  rangeStart: z.number(),
  rangeEnd: z.number(),
  netmask: z.number(),
  gateway: z.number(),
  mtu: z.number(),
  leaseFile: z.string(),
  pidFile: z.string(),
});
export const dhcpRecord = z.object({
  pid: z.number(),
  key: z.string(),
  bridge: z.string(),
  spec: dhcpSpecSchema.optional(),
});
export type DhcpRecord = z.infer<typeof dhcpRecord>;

export const dhcpRecordPath = (stateDir: string, bridge: string): string => `${stateDir}/${bridge}.dnsmasq.json`;
/** Where dnsmasq writes its own pid (the same path planHost gives it in DhcpSpec.pidFile). */
export const dnsmasqPidPath = (stateDir: string, bridge: string): string => `${stateDir}/${bridge}.dnsmasq.pid`;

/**
 * The pid of a live dnsmasq that fan started on `bridge` but did not record: the run that started it was killed
 * between dnsmasq writing its pid file and fan writing its record. Such a daemon is fan's (its pid file is in fan's
 * state directory); without this, the next run would start a second one that cannot bind, and down would leave it.
 */
export async function unrecordedDnsmasq(system: System, stateDir: string, bridge: string): Promise<number | undefined> {
  const pid = Number((await system.read(dnsmasqPidPath(stateDir, bridge)))?.trim() ?? '');
  return Number.isInteger(pid) && pid > 0 && (await system.command(pid)) === 'dnsmasq' ? pid : undefined;
}

function decodeNeighbours(json: string): NeighbourState[] {
  return neighbourList
    .parse(JSON.parse(json.trim() === '' ? '[]' : json))
    .flatMap((n) =>
      n.dev !== undefined && n.lladdr !== undefined && n.dst === '169.254.250.1'
        ? [{ dev: n.dev, address: parseIpv4(n.dst), mac: n.lladdr }]
        : [],
    );
}

/**
 * dnsmasq processes fan started (recorded in the state dir) that are still alive: on fan's bridges, and on any
 * bridge with a record or pid file (a bridge deleted by hand leaves its dnsmasq running).
 */
async function readDhcp(links: readonly LinkState[], system: System, stateDir: string): Promise<DhcpState[]> {
  const out: DhcpState[] = [];
  const recorded = ((await system.list?.(stateDir)) ?? []).flatMap((name) => {
    const m = /^(.+)\.dnsmasq\.(json|pid)$/.exec(name);
    return m?.[1] !== undefined ? [m[1]] : [];
  });
  const bridges = new Set([
    ...links.filter((l) => l.kind === 'bridge' && isFanOwned(l)).map((l) => l.name),
    ...recorded,
  ]);
  for (const name of bridges) {
    const link = { name };
    const text = await system.read(dhcpRecordPath(stateDir, link.name));
    if (text === undefined) {
      // An unknown key: the diff stops it and starts dnsmasq again with a record.
      const pid = await unrecordedDnsmasq(system, stateDir, link.name);
      if (pid !== undefined) out.push({ bridge: link.name, pid, key: 'unrecorded' });
      continue;
    }
    let record: DhcpRecord;
    try {
      record = dhcpRecord.parse(JSON.parse(text));
    } catch {
      continue; // a torn record names no live process fan could stop
    }
    if ((await system.command(record.pid)) === 'dnsmasq') out.push(record);
  }
  return out;
}

/** host-gw's view: fan's programs on devices fan did not create, and the placeholder neighbours. */
function hostGwView(
  links: readonly LinkState[],
  programs: readonly FanProgram[],
  neighbours: readonly NeighbourState[],
) {
  const fanLink = (dev: string): boolean => links.some((l) => l.name === dev && isFanOwned(l));
  const devices = new Set([...programs.map((p) => p.dev), ...neighbours.map((n) => n.dev)].filter((d) => !fanLink(d)));
  return [...devices].map((dev): HostGwState => {
    const egress = programs.find((p) => p.dev === dev && p.direction === 'egress');
    const mac = neighbours.find((n) => n.dev === dev)?.mac;
    return {
      dev,
      attached: egress !== undefined,
      ...(egress?.overlays ? { overlays: egress.overlays } : {}),
      ...(mac ? { neighbourMac: mac } : {}),
    };
  });
}

/**
 * fan's programs, each attachment once: a shared block's program is listed on every port bound to it (a fast
 * path's bridge and its containers' ports), and is fan's state once, on the bridge.
 */
export function attachedOnce<P extends TcProgramState>(attached: readonly P[], links: readonly InterfaceFacts[]): P[] {
  const bridges = new Set(links.filter((l) => l.kind === 'bridge').map((l) => l.name));
  return attached.filter((p) => p.block === undefined || bridges.has(p.dev));
}

export async function readHost(
  runner: CommandRunner,
  bpf: BpfTables,
  system: System,
  stateDir: string,
): Promise<HostSnapshot> {
  const [addresses, routes, neigh, listed, qdiscs, nft, iptables, ipForward] = await Promise.all([
    runner.run(['ip', '-json', '-details', 'address', 'show']),
    runner.run(['ip', '-json', '-details', '-4', 'route', 'show']),
    runner.run(['ip', '-json', '-4', 'neigh', 'show', 'nud', 'permanent']),
    bpf.programsWithTables(),
    // Only the plan needs to know which devices are bound to a shared block: not every reader of the programs.
    runner.run(['tc', '-j', 'qdisc', 'show'], { allowFailure: true }),
    runner.run(['nft', 'list', 'table', 'ip', FAN_NFT_TABLE], { allowFailure: true }),
    runner
      .run(['iptables', '-w', '-S'], { allowFailure: true })
      .catch(() => ({ exitCode: 127, stdout: '', stderr: '' })),
    system.read('/proc/sys/net/ipv4/ip_forward'),
  ]);
  const links = decodeAddressShow(addresses.stdout);
  const blocks = qdiscs.exitCode === 0 ? decodeIngressBlocks(qdiscs.stdout) : new Map<string, number>();
  const attached = listed.map((p) => {
    const block = p.direction === 'ingress' ? blocks.get(p.dev) : undefined;
    return block !== undefined ? { ...p, block } : p;
  });
  const programs = attachedOnce(attached, links);
  const facts: HostFacts = { interfaces: links, routes: decodeRouteShow(routes.stdout) };
  const fanRoutes = facts.routes
    .filter((r) => r.protocol === String(FAN_ROUTE_PROTO) && (r.table === undefined || r.table === 'main'))
    .map((r) => ({
      dst: r.dst,
      dev: r.dev ?? '',
      ...(r.gateway !== undefined ? { via: r.gateway } : {}),
      ...(r.src !== undefined ? { src: r.src } : {}),
      ...(r.mtu !== undefined ? { mtu: r.mtu } : {}),
    }));
  const neighbours = decodeNeighbours(neigh.stdout).filter((n) => n.address === FAN_ONLINK_GATEWAY);
  const nftKey = nft.exitCode === 0 ? decodeNftKey(nft.stdout) : undefined;
  const forward = iptables.exitCode === 0 ? decodeForwardRules(iptables.stdout) : undefined;
  const tunnel = links.find((l) => l.kind === 'vxlan' && isFanOwned(l));
  const overlayTable = programs.find((p) => p.dev === tunnel?.name && p.direction === 'egress')?.overlays;
  const current: CurrentHost = {
    links,
    routes: fanRoutes,
    tcPrograms: programs,
    neighbours,
    ...(overlayTable ? { overlayTable } : {}),
    hostGw: hostGwView(links, programs, neighbours),
    ...(nft.exitCode === 0 ? { nftText: nft.stdout } : {}),
    ...(nftKey !== undefined ? { nftKey } : {}),
    ...(nft.exitCode === 0 && nftKey === undefined ? { nftForeign: true } : {}),
    forwardAccept: forward?.accepts ?? [],
    forwardRules: forward?.rules ?? [],
    iptables: forward !== undefined,
    forwardChain: forward?.chains.includes('DOCKER-USER') ? 'DOCKER-USER' : 'FORWARD',
    dhcp: await readDhcp(links, system, stateDir),
    ipForward: (ipForward ?? '0').trim() === '1',
  };
  return { facts, current };
}

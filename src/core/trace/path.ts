/**
 * The path of one packet from a source on this host, hop by hop, computed from this host's fans and the Fan
 * mapping alone: container → bridge → (same host: the destination's bridge | another host: the tunnel or the
 * underlay device → the computed underlay host → its bridge | outside: the host's route, masqueraded) → the
 * destination. Pure. What cannot be computed (whether a host answers ARP on the underlay, which containers exist
 * here) comes in as facts the caller gathered.
 */
import { type Cidr, type Ipv4, contains, formatCidr, formatIpv4, hostMask } from '../address/ipv4.js';
import type { Fan } from '../config/resolve.js';
import { ConfigError } from '../errors.js';
import { bridgeNameOf, describeHost, underlayHostOf } from '../mapping/fan.js';
import type { InterfaceFacts, RouteFacts } from '../model/host-facts.js';
import { FAN_ROUTE_PROTO } from '../model/host-state.js';
import { bridgeAddresses, fanMtu } from '../plan/host-plan.js';
import { TUNNEL_DEVICE, VXLAN_PORT } from '../../backends/vxlan/backend.js';
import { backendOf } from '../../backends/registry.js';
import { type PolicyDecision, type PolicyVerdict, openPolicy } from './policy.js';
import { type TraceProto, formatProto } from './proto.js';

/** A container attached here, as found through its veth. */
export interface Endpoint {
  readonly address: Ipv4;
  readonly bridge: string;
  readonly hostIf: string;
  readonly mtu: number;
  readonly netns?: string;
  readonly ifname?: string;
}

export interface TraceFacts {
  readonly fans: readonly Fan[];
  /** Main-table IPv4 routes of this host. */
  readonly routes: readonly RouteFacts[];
  readonly interfaces: readonly InterfaceFacts[];
  readonly endpoints: readonly Endpoint[];
  /** Bridge ports whose container could not be found (their addresses are unknown). */
  readonly unresolvedPorts: number;
  /** Underlay hosts asked with ARP: address → answered. Absent: not asked. */
  readonly underlayAnswers?: ReadonlyMap<Ipv4, boolean>;
}

export interface TraceRequest {
  readonly src: Ipv4;
  readonly dst: Ipv4;
  readonly proto: TraceProto;
  readonly policy?: PolicyVerdict;
}

export type HopHost = 'this host' | 'remote host' | 'outside';

export interface Hop {
  readonly host: HopHost;
  /** The object the packet is at: a container, a device, a program. */
  readonly at: string;
  readonly mtu?: number;
  /** What happens to the packet there. */
  readonly action: string;
  /** Policy verdict where one is taken (leaving the source host, entering the destination host). */
  readonly policy?: string;
}

export type TraceKind = 'same-host' | 'cross-host' | 'outside' | 'to-host';
/** Where a packet stops: no container or no host answers ARP, no route, an address no host can own, policy. */
export type StopKind = 'bridge-arp' | 'underlay-arp' | 'no-route' | 'invalid-host' | 'policy';
export type Outcome = 'delivered' | 'dropped' | 'unverified';

export interface Trace {
  readonly src: string;
  readonly dst: string;
  readonly proto: string;
  readonly kind: TraceKind;
  readonly crossOverlay: boolean;
  readonly dataplane?: 'vxlan' | 'host-gw';
  /** The underlay host the destination lives on (cross-host). */
  readonly underlayHost?: string;
  readonly outcome: Outcome;
  readonly stop?: { readonly kind: StopKind; readonly at: string; readonly reason: string };
  /** The smallest MTU on the path. */
  readonly pathMtu?: number;
  readonly hops: readonly Hop[];
  /** Counters that move when the packet takes this path (what --probe compares with). */
  readonly expect: { readonly ebpfTx: boolean; readonly masquerade: boolean };
}

const localSliceFan = (fans: readonly Fan[], a: Ipv4): Fan | undefined => fans.find((f) => contains(f.host.slice, a));
const overlayFan = (fans: readonly Fan[], a: Ipv4): Fan | undefined => fans.find((f) => contains(f.map.overlay, a));
const isBridgeAddress = (fan: Fan, a: Ipv4): boolean => bridgeAddresses(fan).some((c) => c.address === a);

/** Longest-prefix match over main-table routes that are not fan's. */
export function lookupRoute(routes: readonly RouteFacts[], dst: Ipv4): RouteFacts | undefined {
  let best: RouteFacts | undefined;
  for (const r of routes) {
    if (r.table !== undefined && r.table !== 'main') continue;
    if (r.protocol === String(FAN_ROUTE_PROTO) || !contains(r.dst, dst)) continue;
    if (!best || r.dst.prefix > best.dst.prefix) best = r;
  }
  return best;
}

function policyText(d: PolicyDecision): string {
  return d.rule === undefined ? d.verdict : `${d.verdict} (${d.rule})`;
}

/** The path of `req` from this host. Throws ConfigError when SRC is not on this host (and says which host it is on). */
export function tracePath(facts: TraceFacts, req: TraceRequest): Trace {
  const policy = req.policy ?? openPolicy;
  const S = formatIpv4(req.src);
  const D = formatIpv4(req.dst);
  const srcFan = localSliceFan(facts.fans, req.src);
  if (!srcFan) {
    const owner = overlayFan(facts.fans, req.src);
    if (owner) {
      const host = formatIpv4(underlayHostOf(owner.map, req.src));
      throw new ConfigError(`${S} is not on this host: it is in the slice of ${host}`, `run fanctl trace on ${host}`);
    }
    throw new ConfigError(
      `${S} is in no overlay of a fan up on this host`,
      "give a container address (or bridge address) of one of this host's slices: fanctl show",
    );
  }
  const mtuOf = (dev: string): number | undefined => facts.interfaces.find((i) => i.name === dev)?.mtu;
  const hops: Hop[] = [];
  const srcIsHost = isBridgeAddress(srcFan, req.src);
  const srcEndpoint = facts.endpoints.find((e) => e.address === req.src);
  const egress = policy({ src: req.src, dst: req.dst, proto: req.proto, at: 'egress', host: srcFan.host.host });
  if (srcIsHost) {
    hops.push({
      host: 'this host',
      at: `host address ${S} on ${srcFan.bridge}`,
      action: `sent by this host (${formatProto(req.proto)})`,
      policy: policyText(egress),
    });
  } else {
    const mtu = srcEndpoint?.mtu;
    const where = srcEndpoint
      ? ` (${srcEndpoint.ifname ?? 'eth0'}${srcEndpoint.netns ? ` in ${srcEndpoint.netns}` : ''}, ` +
        `host end ${srcEndpoint.hostIf})`
      : '';
    hops.push({
      host: 'this host',
      at: `container ${S}${where}`,
      ...(mtu !== undefined ? { mtu } : {}),
      action: `sends ${formatProto(req.proto)} to ${D} via its gateway ${formatIpv4(srcFan.host.gateway)}`,
      policy: policyText(egress),
    });
    hops.push({
      host: 'this host',
      at: `bridge ${srcFan.bridge}`,
      ...(mtuOf(srcFan.bridge) !== undefined ? { mtu: mtuOf(srcFan.bridge) as number } : {}),
      action: "hands it to the host's routing (the bridge address is the gateway)",
    });
  }
  const finish = (rest: Omit<Trace, 'src' | 'dst' | 'proto' | 'hops' | 'pathMtu'>): Trace => {
    const mtus = hops.map((h) => h.mtu).filter((m): m is number => m !== undefined);
    return {
      src: S,
      dst: D,
      proto: formatProto(req.proto),
      ...rest,
      hops,
      ...(mtus.length > 0 ? { pathMtu: Math.min(...mtus) } : {}),
    };
  };
  if (egress.verdict === 'deny') {
    return finish({
      kind: 'same-host',
      crossOverlay: false,
      outcome: 'dropped',
      stop: { kind: 'policy', at: `leaving ${S}`, reason: `policy denies ${S} → ${D}` },
      expect: { ebpfTx: false, masquerade: false },
    });
  }

  // To this host itself: one of its own addresses.
  const ownDevice = facts.interfaces.find((i) => i.addresses.some((a) => a.address === req.dst));
  if (ownDevice && !srcIsHost) {
    hops.push({
      host: 'this host',
      at: `${D} on ${ownDevice.name}`,
      action: 'delivered to this host itself (an address of its own)',
    });
    return finish({
      kind: 'to-host',
      crossOverlay: false,
      outcome: 'delivered',
      expect: { ebpfTx: false, masquerade: false },
    });
  }

  const dstLocal = localSliceFan(facts.fans, req.dst);
  if (dstLocal) {
    const crossOverlay = dstLocal !== srcFan;
    const ingress = policy({ src: req.src, dst: req.dst, proto: req.proto, at: 'ingress', host: dstLocal.host.host });
    if (crossOverlay)
      hops.push({
        host: 'this host',
        at: `bridge ${dstLocal.bridge}`,
        ...(mtuOf(dstLocal.bridge) !== undefined ? { mtu: mtuOf(dstLocal.bridge) as number } : {}),
        action: `routed from ${srcFan.bridge} to ${dstLocal.bridge} (another overlay's slice on this host)`,
      });
    else if (!srcIsHost)
      hops[hops.length - 1] = {
        ...(hops[hops.length - 1] as Hop),
        action: `bridges it to ${D} (same slice ${formatCidr(srcFan.host.slice)})`,
      };
    const expect = { ebpfTx: false, masquerade: false };
    if (isBridgeAddress(dstLocal, req.dst)) {
      hops.push({
        host: 'this host',
        at: `host address ${D} on ${dstLocal.bridge}`,
        action: 'delivered to this host (its bridge address)',
        policy: policyText(ingress),
      });
      return finish({ kind: 'to-host', crossOverlay, outcome: 'delivered', expect });
    }
    if (ingress.verdict === 'deny') {
      return finish({
        kind: 'same-host',
        crossOverlay,
        outcome: 'dropped',
        stop: { kind: 'policy', at: `entering ${D}`, reason: `policy denies ${S} → ${D}` },
        expect,
      });
    }
    const dstEndpoint = facts.endpoints.find((e) => e.address === req.dst);
    if (dstEndpoint) {
      hops.push({
        host: 'this host',
        at:
          `container ${D} ` +
          `(${dstEndpoint.ifname ?? 'eth0'}${dstEndpoint.netns ? ` in ${dstEndpoint.netns}` : ''}, ` +
          `host end ${dstEndpoint.hostIf})`,
        mtu: dstEndpoint.mtu,
        action: 'delivered',
        policy: policyText(ingress),
      });
      return finish({ kind: 'same-host', crossOverlay, outcome: 'delivered', expect });
    }
    if (facts.unresolvedPorts === 0) {
      hops.push({
        host: 'this host',
        at: `bridge ${dstLocal.bridge}`,
        action: `dropped: no container on ${dstLocal.bridge} has ${D}, so nobody answers ARP for it`,
      });
      return finish({
        kind: 'same-host',
        crossOverlay,
        outcome: 'dropped',
        stop: {
          kind: 'bridge-arp',
          at: dstLocal.bridge,
          reason: `no container on ${dstLocal.bridge} answers ARP for ${D}`,
        },
        expect,
      });
    }
    hops.push({
      host: 'this host',
      at: `container ${D}?`,
      action:
        `delivered if one of the ${facts.unresolvedPorts} port(s) of ` +
        `${dstLocal.bridge} whose container could not be inspected has ${D}`,
      policy: policyText(ingress),
    });
    return finish({ kind: 'same-host', crossOverlay, outcome: 'unverified', expect });
  }

  const dstFan = overlayFan(facts.fans, req.dst);
  if (dstFan) {
    const remote = underlayHostOf(dstFan.map, req.dst);
    const R = formatIpv4(remote);
    const crossOverlay = dstFan !== srcFan;
    const bits = remote & hostMask(dstFan.map.underlay.prefix);
    // A fast path carries its kernel path's frames: where it does not apply, its packets take that path.
    const dataplane = backendOf(dstFan).wireFormat;
    const base = { kind: 'cross-host' as const, crossOverlay, dataplane, underlayHost: R };
    const peerDev = dataplane === 'vxlan' ? TUNNEL_DEVICE : dstFan.device;
    hops.push({
      host: 'this host',
      at: `route ${formatCidr(dstFan.map.overlay)} dev ${peerDev}`,
      mtu: fanMtu(dstFan),
      action:
        `the overlay route of ` +
        `${dstFan.bridge} takes it${crossOverlay ? ' (the destination is in another overlay)' : ''}`,
    });
    if (bits === 0 || bits === hostMask(dstFan.map.underlay.prefix)) {
      hops.push({
        host: 'this host',
        at: `eBPF on ${peerDev}`,
        action: `${D} maps to ${R}, the underlay's ${bits === 0 ? 'network' : 'broadcast'} address: no host can own it`,
      });
      return finish({
        ...base,
        outcome: 'dropped',
        stop: { kind: 'invalid-host', at: peerDev, reason: `${D} maps to ${R}, which no host can own` },
        expect: { ebpfTx: false, masquerade: false },
      });
    }
    const underlayMtu = mtuOf(dstFan.device) ?? dstFan.deviceMtu;
    if (dataplane === 'vxlan') {
      hops.push({
        host: 'this host',
        at: `eBPF fan_egress on ${TUNNEL_DEVICE}`,
        ...(mtuOf(TUNNEL_DEVICE) !== undefined ? { mtu: mtuOf(TUNNEL_DEVICE) as number } : {}),
        action: `computes ${D} → underlay host ${R}; VXLAN VNI ${dstFan.host.vni}`,
      });
      hops.push({
        host: 'this host',
        at: `underlay ${dstFan.device}`,
        mtu: underlayMtu,
        action: `UDP ${formatIpv4(dstFan.host.host)} → ${R}:${VXLAN_PORT}`,
      });
    } else {
      hops.push({
        host: 'this host',
        at: `eBPF fan_hostgw on ${dstFan.device}`,
        mtu: underlayMtu,
        action: `computes ${D} → underlay host ${R}; sent unencapsulated to its MAC`,
      });
    }
    if (facts.underlayAnswers?.get(remote) === false) {
      hops.push({ host: 'this host', at: `ARP on ${dstFan.device}`, action: `dropped: no host answers ARP for ${R}` });
      return finish({
        ...base,
        outcome: 'dropped',
        stop: { kind: 'underlay-arp', at: dstFan.device, reason: `no host answers ARP for ${R} on ${dstFan.device}` },
        expect: { ebpfTx: true, masquerade: false },
      });
    }
    const ingress = policy({ src: req.src, dst: req.dst, proto: req.proto, at: 'ingress', host: remote });
    const remoteSlice = describeHost(dstFan.map, remote);
    const remoteBridge = bridgeNameOf(dstFan.map.overlay);
    if (dataplane === 'vxlan')
      hops.push({
        host: 'remote host',
        at: `${R} eBPF fan_ingress`,
        action: `accepts: ${S} maps to ${formatIpv4(srcFan.host.host)}, the outer source`,
      });
    hops.push({
      host: 'remote host',
      at: `${R} bridge ${remoteBridge} (slice ${formatCidr(remoteSlice.slice)})`,
      mtu: fanMtu(dstFan),
      action: 'routes it onto the bridge (MTU as here, assuming the same underlay MTU)',
    });
    if (ingress.verdict === 'deny') {
      return finish({
        ...base,
        outcome: 'dropped',
        stop: { kind: 'policy', at: `entering ${D} on ${R}`, reason: `policy denies ${S} → ${D}` },
        expect: { ebpfTx: true, masquerade: false },
      });
    }
    const toHost = remoteSlice.gateway === req.dst;
    hops.push({
      host: 'remote host',
      at: toHost ? `${R} host address ${D}` : `container ${D} on ${R}`,
      action: 'delivered (if it exists there)',
      policy: policyText(ingress),
    });
    return finish({
      ...base,
      outcome: facts.underlayAnswers?.get(remote) === true ? 'delivered' : 'unverified',
      expect: { ebpfTx: true, masquerade: false },
    });
  }

  // Outside every overlay of this host.
  const route = lookupRoute(facts.routes, req.dst);
  if (!route || route.dev === undefined) {
    hops.push({ host: 'this host', at: 'routing table', action: `dropped: no route to ${D}` });
    return finish({
      kind: 'outside',
      crossOverlay: false,
      outcome: 'dropped',
      stop: { kind: 'no-route', at: 'this host', reason: `this host has no route to ${D}` },
      expect: { ebpfTx: false, masquerade: false },
    });
  }
  const out = facts.interfaces.find((i) => i.name === route.dev);
  const natAddress =
    route.src ??
    out?.addresses.find((a) => route.gateway === undefined || contains(a as Cidr, route.gateway))?.address ??
    out?.addresses[0]?.address;
  hops.push({
    host: 'this host',
    at:
      `route ${route.dst.prefix === 0 ? 'default' : formatCidr(route.dst)}` +
      `${route.gateway !== undefined ? ` via ${formatIpv4(route.gateway)}` : ''} dev ${route.dev}`,
    ...(out ? { mtu: out.mtu } : {}),
    action:
      `nft masquerade: ` +
      `source ${S} becomes ${natAddress !== undefined ? formatIpv4(natAddress) : `${route.dev}'s address`}`,
  });
  hops.push({ host: 'outside', at: D, action: 'leaves the fan (the answer comes back through conntrack)' });
  return finish({
    kind: 'outside',
    crossOverlay: false,
    outcome: 'unverified',
    expect: { ebpfTx: false, masquerade: true },
  });
}

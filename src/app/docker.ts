/**
 * The Docker integration's use cases, behind the libnetwork remote drivers of src/docker (which only translate the
 * wire protocol): an IPAM that hands out this host's slice from the shared lease table (ports/leases.ts), and a
 * network driver that puts each endpoint's veth on the fan bridge.
 *
 * Nothing is kept in memory, so the plugin can restart at any time:
 * - a pool is named by its id, `<bridge>:<slice>` (core/attach/pools.ts);
 * - an address lease is owned by `docker:<pool id>:<request id>`: Docker names no endpoint when it asks for an
 *   address, so each request gets a fresh id, and ReleaseAddress (which names the pool and the address) removes
 *   the pool's Docker lease holding that address, in one locked step (`gc`);
 * - an endpoint's veth names follow from its id (`fanXXXXXXXX` on the bridge, `fanpXXXXXXXX` for the container),
 *   and the bridge end's alias names the network, the endpoint and its address; Join finds the fan from the
 *   bridge the veth is on, ProgramExternalConnectivity the address its published ports forward to;
 * - published ports are recorded in a state file (the truth) and rendered into nftables table `ip fan-ports`;
 * - a Docker lease no endpoint of dockerd holds (dockerd died between RequestAddress and its own bookkeeping)
 *   is reclaimed by `reclaimLeases`, which asks dockerd's API which addresses its networks hold.
 */
import { type Cidr, type Ipv4, contains, equalCidr, formatCidr, formatIpv4, parseIpv4 } from '../core/address/ipv4.js';
import type { Fan } from '../core/config/resolve.js';
import { ConfigError, FanError } from '../core/errors.js';
import {
  DOCKER_LEASE_IFNAME,
  dockerAlias,
  dockerOwner,
  dockerVethNames,
  isDockerOwner,
  isDockerOwnerOf,
  isUnlabelledHostVeth,
  parseDockerAlias,
} from '../core/attach/names.js';
import { FanNotUpError, attachmentMtu, requireBridge } from '../core/attach/plan.js';
import { fanForSubnet, fanOfAddress, fanOfPool, ipRangeOf, parsePoolId, poolIdOf } from '../core/attach/pools.js';
import { type PublishedEndpoint, type PublishedPort, replacePublished } from '../core/attach/published-ports.js';
import { IpamError } from '../core/ipam/allocator.js';
import { type IpamPool, poolOf, reservedRangeOf, restrictPool } from '../core/ipam/pool.js';
import type { Lease, LeaseStore } from '../ports/leases.js';
import type { PortTable, PublishedPortsRecord } from '../ports/published-ports.js';
import type { HostVeths } from '../ports/sandbox.js';
import type { NetworkGroups } from '../ports/docker-networks.js';
import type { PortBinder } from '../ports/bindings.js';
import { containerMac, normalizeMac } from '../core/bind/binding.js';
import type { FanView } from './fans.js';
import { backendOf } from '../backends/registry.js';
import type { InterfaceFacts } from '../core/model/host-facts.js';

export interface DockerDeps {
  /** The fans configured on this host and the host snapshot. */
  readonly fans: () => Promise<FanView>;
  /** The lease store of a fan that is up (allocates from `pool`, by default the fan's whole pool). */
  readonly leases: (fan: Fan, pool?: IpamPool) => LeaseStore;
  /** The lease store of a bridge whose fan may be down (releases). */
  readonly leasesOfBridge: (bridge: string) => LeaseStore;
  readonly veths: HostVeths;
  /** A fresh unique id for each address request. */
  readonly newId: () => string;
  readonly log: (line: string) => void;
  readonly ports: PublishedPortsRecord;
  readonly portTable: PortTable;
  /** The addresses dockerd's networks hold (endpoints, gateways, aux addresses); absent: no lease is reclaimed. */
  readonly dockerAddresses?: () => Promise<ReadonlySet<Ipv4>>;
  /** A lease younger than this is never reclaimed: dockerd may be between RequestAddress and CreateEndpoint. */
  readonly reclaimGraceMs: number;
  readonly now: () => Date;
  /** Port binding (always on): the host veth may send only with the endpoint's MAC and address. */
  readonly bindings: PortBinder;
  /**
   * The pool of a policy group (`--ipam-opt fan.group=NAME`): the fan's pool narrowed to the group's index range
   * in the applied policy; throws ConfigError for an unknown group or when no policy is applied.
   */
  readonly groupPool?: (fan: Fan, group: string) => Promise<IpamPool>;
  /** The groups networks were created with (`-o fan.group=NAME`); absent: not checked at CreateEndpoint. */
  readonly networkGroups?: NetworkGroups;
  /** The pool of a network of no group: the fan's pool without the policy's group ranges (default: the pool). */
  readonly ungroupedPool?: (fan: Fan) => Promise<IpamPool>;
}

/** Join or DeleteEndpoint for an endpoint whose veth is not there. */
export class EndpointMissingError extends FanError {
  override name = 'EndpointMissingError';
}

// ---- IPAM ----

export interface PoolRequest {
  readonly subnet?: Cidr;
  /** `--ip-range`. */
  readonly range?: Cidr;
  /** `--ipam-opt fan.group=NAME`. */
  readonly group?: string;
  readonly v6: boolean;
}

export interface Pool {
  readonly id: string;
  /** This host's slice of the fan. */
  readonly pool: Cidr;
  readonly fan: Fan;
}

/** The pool a network gets: this host's slice of the fan named by `subnet` (the slice itself or the overlay). */
export async function requestPool(deps: DockerDeps, req: PoolRequest): Promise<Pool> {
  if (req.v6)
    throw new ConfigError('the fan IPAM has no IPv6 pools', 'create the network without --ipv6 (the Fan is IPv4)');
  const fan = fanForSubnet((await deps.fans()).fans, req.subnet);
  const range = ipRangeOf(fan, req.range);
  if (req.group !== undefined) await groupPoolOf(deps, fan, req.group); // an unknown group fails network create
  return { id: poolIdOf(fan, range, req.group), pool: fan.host.slice, fan };
}

/** The pool a group's addresses come from; the error names the group and how to define it. */
export async function groupPoolOf(deps: DockerDeps, fan: Fan, group: string): Promise<IpamPool> {
  if (!deps.groupPool)
    throw new ConfigError(
      `fan.group=${group} was asked for, but this Docker plugin has no policy groups`,
      'run the plugin with fanctl docker-plugin or fanctl agent --docker',
    );
  return deps.groupPool(fan, group);
}

export interface AddressRequest {
  readonly poolId: string;
  readonly address?: Ipv4;
  /** Docker asks for the network's gateway (RequestAddressType com.docker.network.gateway). */
  readonly gateway: boolean;
}

/** An address of the pool with the slice prefix: the bridge address for a gateway request, else a new lease. */
export async function requestAddress(deps: DockerDeps, req: AddressRequest): Promise<Cidr> {
  const fan = fanOfPool((await deps.fans()).fans, req.poolId);
  const prefix = fan.host.slice.prefix;
  if (req.gateway) {
    if (req.address !== undefined && req.address !== fan.host.gateway) {
      throw new ConfigError(
        `gateway ${formatIpv4(req.address)} is not the fan's: ` +
          `containers route through the bridge ${fan.bridge} at ${formatIpv4(fan.host.gateway)}`,
        `leave --gateway out, or pass --gateway ${formatIpv4(fan.host.gateway)}`,
      );
    }
    return { address: fan.host.gateway, prefix };
  }
  const { range, group } = parsePoolId(req.poolId);
  const base =
    group !== undefined
      ? await groupPoolOf(deps, fan, group)
      : deps.ungroupedPool
        ? await deps.ungroupedPool(fan)
        : poolOf(fan);
  const store = deps.leases(fan, range === undefined ? base : restrictPool(base, range));
  const allocate = (): Promise<Lease> =>
    store.allocate(dockerOwner(req.poolId, deps.newId()), DOCKER_LEASE_IFNAME, req.address);
  try {
    return { address: (await allocate()).address, prefix };
  } catch (error) {
    // A full pool may be full of leases dockerd abandoned: reclaim them once, then try again.
    if (
      !(error instanceof IpamError && error.kind === 'exhausted' && req.address === undefined && deps.dockerAddresses)
    )
      throw error;
    const freed = await reclaimLeases(deps).catch(() => [] as Lease[]);
    if (freed.length === 0) throw error;
    return { address: (await allocate()).address, prefix };
  }
}

/** Frees the pool's Docker lease of `address` (none, for the gateway or an address released before). */
export async function releaseAddress(
  deps: DockerDeps,
  req: { readonly poolId: string; readonly address: Ipv4 },
): Promise<Lease[]> {
  const { bridge } = parsePoolId(req.poolId);
  return deps.leasesOfBridge(bridge).gc((l) => !(l.address === req.address && isDockerOwnerOf(req.poolId, l.owner)));
}

/**
 * Frees every Docker lease (on the fans that are up) whose address no network of dockerd holds and that is older
 * than the grace period, and forgets published ports of endpoints whose veth is gone. Returns the freed leases.
 * Runs when the plugin starts, on a timer, and when a pool is full.
 */
export async function reclaimLeases(deps: DockerDeps): Promise<Lease[]> {
  if (!deps.dockerAddresses) return [];
  const known = await deps.dockerAddresses();
  const now = deps.now().getTime();
  const freed: Lease[] = [];
  for (const fan of (await deps.fans()).fans) {
    const young = (l: Lease): boolean => now - Date.parse(l.since) < deps.reclaimGraceMs;
    const gone = await deps.leases(fan).gc((l) => !isDockerOwner(l.owner) || known.has(l.address) || young(l));
    for (const l of gone) deps.log(`reclaimed ${formatIpv4(l.address)} (${l.owner}): no endpoint of dockerd holds it`);
    freed.push(...gone);
  }
  await forgetStalePorts(deps);
  return freed;
}

async function forgetStalePorts(deps: DockerDeps): Promise<void> {
  const entries = await deps.ports.list();
  const stale: string[] = [];
  for (const e of entries) {
    const link = await deps.veths.hostLink(dockerVethNames(e.endpointId).hostIf);
    if (parseDockerAlias(link?.alias)?.endpointId !== e.endpointId) stale.push(e.endpointId);
  }
  if (stale.length === 0) return;
  await deps.ports.update(async (current) => {
    const next = current.filter((e) => !stale.includes(e.endpointId));
    await deps.portTable.apply(next);
    return next;
  });
  deps.log(`forgot the published ports of ${stale.length} endpoint(s) whose veth is gone`);
}

// ---- published ports ----

/**
 * Publishes the endpoint's ports (ProgramExternalConnectivity): records them and loads the nftables table with
 * DNAT rules to the endpoint's address. Replaces what the endpoint published before.
 */
export async function publishPorts(
  deps: DockerDeps,
  req: { readonly networkId: string; readonly endpointId: string; readonly ports: readonly PublishedPort[] },
): Promise<PublishedEndpoint | undefined> {
  if (req.ports.length === 0) return undefined;
  const { hostIf } = dockerVethNames(req.endpointId);
  const alias = parseDockerAlias((await deps.veths.hostLink(hostIf))?.alias);
  if (alias?.endpointId !== req.endpointId) {
    throw new EndpointMissingError(
      `endpoint ${req.endpointId} has no veth here (${hostIf} is missing)`,
      'remove the container and start it again',
    );
  }
  if (alias.address === undefined) {
    throw new FanError(
      `endpoint ${req.endpointId} was created by an older fan that did not record its address`,
      'remove the container and start it again to publish ports',
    );
  }
  const entry: PublishedEndpoint = {
    networkId: req.networkId,
    endpointId: req.endpointId,
    address: parseIpv4(alias.address),
    ports: req.ports,
  };
  await deps.ports.update(async (current) => {
    const next = replacePublished(current, req.endpointId, entry);
    await deps.portTable.apply(next);
    return next;
  });
  return entry;
}

/** Removes the endpoint's published ports (RevokeExternalConnectivity, Leave, DeleteEndpoint); idempotent. */
export async function unpublishPorts(deps: DockerDeps, req: { readonly endpointId: string }): Promise<boolean> {
  if (!(await deps.ports.list()).some((e) => e.endpointId === req.endpointId)) return false;
  await deps.ports.update(async (current) => {
    const next = replacePublished(current, req.endpointId, undefined);
    if (next.length !== current.length) await deps.portTable.apply(next);
    return next;
  });
  return true;
}

// ---- network driver ----

export interface NetworkRequest {
  /** IPv4 pools (Docker sends one per `--subnet`). */
  readonly pools: readonly { readonly pool: Cidr; readonly gateway?: Cidr }[];
  readonly ipv6: boolean;
}

/** Checks that a new network is one of this host's fan slices with the bridge as gateway; returns the fan. */
export async function checkNetwork(deps: DockerDeps, req: NetworkRequest): Promise<Fan> {
  if (req.ipv6) throw new ConfigError('the fan network driver has no IPv6', 'create the network without --ipv6');
  const [first, ...more] = req.pools;
  if (!first || more.length > 0) {
    throw new ConfigError(
      `a fan network has exactly one IPv4 pool (got ${req.pools.length})`,
      "create it with --ipam-driver fan and one --subnet: this host's slice or the overlay",
    );
  }
  const view = await deps.fans();
  const fan = view.fans.find((f) => equalCidr(f.host.slice, first.pool));
  if (!fan) {
    const overlay = view.fans.find(
      (f) => equalCidr(f.map.overlay, first.pool) || contains(f.map.overlay, first.pool.address),
    );
    if (overlay) {
      throw new ConfigError(
        `pool ${formatCidr(first.pool)} is not this host's slice of fan ${formatCidr(overlay.map.overlay)} ` +
          `(${formatCidr(overlay.host.slice)}): containers would get other hosts' addresses`,
        `create the network with --ipam-driver fan --subnet ${formatCidr(overlay.host.slice)} ` +
          `(the fan IPAM also takes --subnet ${formatCidr(overlay.map.overlay)})`,
      );
    }
    if (view.fans.length === 0)
      throw new FanNotUpError(
        `no fan is up on this host (wanted pool ${formatCidr(first.pool)})`,
        'bring one up first, e.g. fanctl up -o 250.0.0.0/8 -u <underlay>',
        false,
      );
    throw new ConfigError(
      `pool ${formatCidr(first.pool)} is not a fan slice of this host`,
      `create the network with --ipam-driver fan and one of: ` +
        `${view.fans.map((f) => `--subnet ${formatCidr(f.host.slice)} (${f.bridge})`).join(', ')}`,
    );
  }
  if (first.gateway !== undefined && first.gateway.address !== fan.host.gateway) {
    throw new ConfigError(
      `gateway ${formatIpv4(first.gateway.address)} is not the fan's: ` +
        `containers route through the bridge ${fan.bridge} at ${formatIpv4(fan.host.gateway)}`,
      `leave --gateway out with --ipam-driver fan, or pass --gateway ${formatIpv4(fan.host.gateway)}`,
    );
  }
  requireBridge(fan, view.facts);
  return fan;
}

export interface EndpointRequest {
  readonly networkId: string;
  readonly endpointId: string;
  /** The address the IPAM gave the endpoint. */
  readonly address?: Cidr;
  /** A MAC address Docker chose (`--mac-address`). */
  readonly mac?: string;
}

export interface Endpoint {
  readonly fan: Fan;
  readonly hostIf: string;
  readonly peer: string;
  readonly mac?: string;
}

/**
 * A network created with `-o fan.group=NAME` must get its addresses from the group's range, which only
 * `--ipam-opt fan.group=NAME` asks the IPAM driver for: without it the container would silently be outside the
 * group. Refused before anything is created.
 */
async function requireGroupAddress(deps: DockerDeps, fan: Fan, req: EndpointRequest): Promise<void> {
  if (!deps.networkGroups || req.address === undefined) return;
  const group = await deps.networkGroups.group(req.networkId);
  if (group === undefined) return;
  const pool = await groupPoolOf(deps, fan, group);
  const address = req.address.address;
  if (contains(pool.slice, address) && reservedRangeOf(pool, address) === undefined) return;
  throw new ConfigError(
    `network ${req.networkId.slice(0, 12)} was created with -o fan.group=${group}, but its address ` +
      `${formatIpv4(address)} is outside group ${group}'s range: Docker passes -o options to the network driver ` +
      'only, and the IPAM driver chose from the whole slice',
    `create the network with --ipam-opt fan.group=${group} as well (docker network rm it, then ` +
      `docker network create -d fan --ipam-driver fan --ipam-opt fan.group=${group} -o fan.group=${group} ...)`,
  );
}

/**
 * Creates the endpoint's veth: the host end on the fan bridge (fan MTU, alias naming the endpoint), the other end
 * left here for Docker to move into the container at Join.
 */
export async function createEndpoint(deps: DockerDeps, req: EndpointRequest): Promise<Endpoint> {
  if (req.address === undefined) {
    throw new ConfigError(
      `endpoint ${req.endpointId} has no IPv4 address`,
      "create the network with --ipam-driver fan --subnet <this host's slice>",
    );
  }
  const view = await deps.fans();
  const fan = fanOfAddress(view.fans, req.address.address);
  if (!fan) {
    throw new ConfigError(
      `address ${formatCidr(req.address)} is not in this host's slice of any fan that is up`,
      `fans up here: ` +
        `${view.fans.map((f) => `${formatCidr(f.host.slice)} on ${f.bridge}`).join(', ') || 'none'}; ` +
        `create the network with --ipam-driver fan`,
    );
  }
  requireBridge(fan, view.facts);
  await requireGroupAddress(deps, fan, req);
  const { hostIf, peer } = dockerVethNames(req.endpointId);
  const mac = req.mac !== undefined ? normalizeMac(req.mac) : containerMac(req.address.address);
  if (mac === undefined) {
    throw new ConfigError(
      `MAC address ${JSON.stringify(req.mac)} is not unicast xx:xx:xx:xx:xx:xx`,
      'pass a valid --mac-address',
    );
  }
  const stale = await deps.veths.hostLink(hostIf);
  if (stale) {
    // The same endpoint id gives the same name: a leftover of an earlier attempt for this endpoint.
    if (!parseDockerAlias(stale.alias) && !isUnlabelledHostVeth(stale)) {
      throw new FanError(
        `host interface ${hostIf} exists and is not fan's`,
        `remove it (ip link del ${hostIf}) if it is not in use`,
      );
    }
    deps.log(`removing leftover host interface ${hostIf}`);
    await deps.veths.deleteHostLink(hostIf);
  }
  // Bound before the veth exists: a crash at any later point leaves no attached port unbound.
  await deps.bindings.bind({ port: hostIf, mac, addresses: [req.address.address] });
  const block = backendOf(fan).portBlock?.(fan);
  const created = await deps.veths
    .createVethPair({
      hostIf,
      peer,
      mtu: attachmentMtu(fan, undefined),
      bridge: fan.bridge,
      alias: dockerAlias({
        networkId: req.networkId,
        endpointId: req.endpointId,
        address: formatIpv4(req.address.address),
      }),
      peerMac: mac,
      ...(block !== undefined ? { fastPath: { address: req.address.address, block } } : {}),
    })
    .catch(async (error: unknown) => {
      await deps.bindings.unbind(hostIf);
      throw error;
    });
  return { fan, hostIf, peer, ...(created.peer.mac !== undefined ? { mac: created.peer.mac } : {}) };
}

/** What Join answers: the interface Docker moves into the container and the gateway it routes through. */
export async function joinEndpoint(
  deps: DockerDeps,
  req: { readonly endpointId: string },
): Promise<{ readonly peer: string; readonly gateway: Ipv4; readonly fan: Fan }> {
  const { hostIf, peer } = dockerVethNames(req.endpointId);
  const [host, inside] = await Promise.all([deps.veths.hostLink(hostIf), deps.veths.hostLink(peer)]);
  if (!host || parseDockerAlias(host.alias)?.endpointId !== req.endpointId || !inside) {
    const why = !host
      ? `${hostIf} is missing`
      : !inside
        ? `${peer} is missing`
        : `${hostIf} belongs to another endpoint`;
    throw new EndpointMissingError(
      `endpoint ${req.endpointId} has no veth here (${why})`,
      'remove the container and start it again (its endpoint is created anew)',
    );
  }
  const view = await deps.fans();
  const fan = view.fans.find((f) => f.bridge === host.master);
  if (!fan) {
    throw new FanNotUpError(
      `the veth ${hostIf} of endpoint ${req.endpointId} is not on a fan bridge that is up ` +
        `(master: ${host.master ?? 'none'})`,
      'run fanctl up again to repair the fan, then start the container again',
      true,
    );
  }
  return { peer, gateway: fan.host.gateway, fan };
}

/**
 * A fast-path fan's accelerator map still points the endpoint's address at the deleted veth: the next attach of
 * the address overwrites it, but an address left unused would keep an entry until the map's LRU evicts it.
 */
async function forgetPeerMapEntry(deps: DockerDeps, link: InterfaceFacts): Promise<void> {
  const address = parseDockerAlias(link.alias)?.address;
  if (address === undefined || link.master === undefined) return;
  const fan = (await deps.fans()).fans.find((f) => f.bridge === link.master);
  if (fan && backendOf(fan).portBlock !== undefined) await deps.veths.forgetPeerMapAddress(parseIpv4(address));
}

/** Deletes the endpoint's veth (both ends go); false when it was gone already. */
export async function deleteEndpoint(deps: DockerDeps, req: { readonly endpointId: string }): Promise<boolean> {
  const { hostIf } = dockerVethNames(req.endpointId);
  const link = await deps.veths.hostLink(hostIf);
  // Unlabelled (fan's group, no alias): a CreateEndpoint killed before labelling it; its name is this endpoint's.
  if (!link || (parseDockerAlias(link.alias)?.endpointId !== req.endpointId && !isUnlabelledHostVeth(link))) {
    if (!link) await deps.bindings.unbind(hostIf); // a DeleteEndpoint that died after deleting the veth
    return false;
  }
  const deleted = await deps.veths.deleteHostLink(hostIf);
  await deps.bindings.unbind(hostIf); // after the veth is gone
  await forgetPeerMapEntry(deps, link);
  return deleted;
}

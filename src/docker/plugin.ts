/**
 * The fan's libnetwork remote drivers: a NetworkDriver (`docker network create -d fan`) and an IpamDriver
 * (`--ipam-driver fan`). One handler per call path; each decodes its body, calls a use case of src/app/docker.ts
 * and encodes the answer. This file only translates between Docker and those.
 *
 * What Docker 20.10 sends, in order (recorded), and what fan answers:
 * - Plugin.Activate → Implements both drivers; GetCapabilities: scope local, no request replay (state is on disk).
 * - network create: RequestPool (Pool = --subnet: this host's slice or the overlay) → PoolID `<bridge>:<slice>`,
 *   Pool = the slice; RequestAddress for the gateway → the bridge address, no lease; CreateNetwork → checks.
 * - run: RequestAddress → a lease from the shared IPAM; CreateEndpoint → veth on the fan bridge, answer the MAC
 *   (only when Docker chose none); Join → SrcName (the veth end Docker moves in, renamed eth0), Gateway.
 * - `-p HOST:PORT`: ProgramExternalConnectivity (after Join) carries the bindings → DNAT rules in `ip fan-ports`;
 *   Docker starts no proxy and writes no rule for a remote driver's ports.
 * - stop: RevokeExternalConnectivity, Leave → published ports removed (Docker moves the interface back
 *   afterwards); DeleteEndpoint → veth deleted; ReleaseAddress (address without prefix) → lease freed.
 *   network rm: ReleaseAddress(gateway), ReleasePool.
 * - `docker network connect/disconnect` of a running container: the same RequestAddress … Join and Leave …
 *   ReleaseAddress sequences for the one endpoint.
 */
import { type Cidr, equalCidr, formatCidr, formatIpv4, network, parseCidr, parseIpv4 } from '../core/address/ipv4.js';
import { ConfigError } from '../core/errors.js';
import { GROUP_NAME } from '../core/policy/parse.js';
import {
  type DockerDeps,
  checkNetwork,
  createEndpoint,
  deleteEndpoint,
  groupPoolOf,
  joinEndpoint,
  publishPorts,
  releaseAddress,
  requestAddress,
  requestPool,
  unpublishPorts,
} from '../app/docker.js';
import type { PortProto, PublishedPort } from '../core/attach/published-ports.js';
import {
  DockerProtocolError,
  GATEWAY_REQUEST,
  createEndpointSchema,
  createNetworkSchema,
  decode,
  type PortBindingWire,
  endpointSchema,
  externalConnectivitySchema,
  joinSchema,
  networkSchema,
  releaseAddressSchema,
  releasePoolSchema,
  requestAddressSchema,
  requestPoolSchema,
} from './protocol.js';

/** The option naming a network's policy group: `--ipam-opt fan.group=web` (IPAM) or `-o fan.group=web` (driver). */
export const GROUP_OPTION = 'fan.group';

function fanGroupOption(options: Readonly<Record<string, unknown>>, flag: string): string | undefined {
  const value = options[GROUP_OPTION];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !GROUP_NAME.test(value))
    throw new ConfigError(
      `${flag} ${GROUP_OPTION}=${String(value)} is not a group name`,
      `name a group of the applied policy, e.g. ${flag} ${GROUP_OPTION}=web`,
    );
  return value;
}

/** Handles one call: the decoded JSON body in, the JSON answer out (errors are thrown). */
export type DockerHandler = (body: unknown) => Promise<object>;

/** Address spaces the IPAM reports; pools do not depend on them. */
export const ADDRESS_SPACES = { local: 'fan-local', global: 'fan-global' } as const;

function parseField<T>(what: string, value: string, parse: (text: string) => T): T {
  try {
    return parse(value);
  } catch (error) {
    if (error instanceof ConfigError)
      throw new ConfigError(`${what} "${value}" is malformed: ${error.message}`, error.hint);
    throw error;
  }
}

/** `250.3.4.2` or `250.3.4.2/24` → the address (ReleaseAddress sends it bare, some callers with a prefix). */
function bareAddress(what: string, text: string): number {
  return parseField(what, text.split('/')[0] ?? text, parseIpv4);
}

/** IANA protocol numbers Docker sends in a port binding. */
const PROTOCOLS: Readonly<Record<number, PortProto>> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

function validPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

/** Docker's bindings as fan publishes them; IPv6 host addresses are skipped (the fan is IPv4), with a log line. */
export function publishedPorts(bindings: readonly PortBindingWire[], log: (line: string) => void): PublishedPort[] {
  const ports: PublishedPort[] = [];
  for (const b of bindings) {
    const proto = PROTOCOLS[b.Proto];
    if (proto === undefined)
      throw new DockerProtocolError(
        400,
        `port binding protocol ${b.Proto} is not tcp (6), udp (17) or sctp (132)`,
        'publish tcp, udp or sctp ports',
      );
    if (!validPort(b.Port))
      throw new DockerProtocolError(400, `container port ${b.Port} is not between 1 and 65535`, 'publish a valid port');
    if (b.HostPort === 0) {
      throw new ConfigError(
        `-p ${b.Port}/${proto} asks for a host port Docker leaves to the driver to choose, ` +
          `which a remote driver cannot report back`,
        `name the host port: -p HOSTPORT:${b.Port}/${proto}`,
      );
    }
    if (!validPort(b.HostPort))
      throw new DockerProtocolError(
        400,
        `host port ${b.HostPort} is not between 1 and 65535`,
        'publish a valid host port',
      );
    if (b.HostIP.includes(':')) {
      log(`skipping ${b.HostIP} port ${b.HostPort}/${proto}: the fan is IPv4`);
      continue;
    }
    const hostIp = b.HostIP === '' || b.HostIP === '0.0.0.0' ? undefined : parseField('HostIP', b.HostIP, parseIpv4);
    ports.push({ proto, hostPort: b.HostPort, port: b.Port, ...(hostIp !== undefined ? { hostIp } : {}) });
  }
  return ports;
}

export function fanDockerPlugin(deps: DockerDeps): Readonly<Record<string, DockerHandler>> {
  const handlers: Record<string, DockerHandler> = {
    '/Plugin.Activate': () => Promise.resolve({ Implements: ['NetworkDriver', 'IpamDriver'] }),

    // ---- IPAM ----
    '/IpamDriver.GetCapabilities': () => Promise.resolve({ RequiresMACAddress: false, RequiresRequestReplay: false }),
    '/IpamDriver.GetDefaultAddressSpaces': () =>
      Promise.resolve({
        LocalDefaultAddressSpace: ADDRESS_SPACES.local,
        GlobalDefaultAddressSpace: ADDRESS_SPACES.global,
      }),
    '/IpamDriver.RequestPool': async (body) => {
      const r = decode(requestPoolSchema, 'RequestPool', body);
      if (r.V6) await requestPool(deps, { v6: true }); // refuses before the IPv6 pool is parsed as IPv4
      const subnet: Cidr | undefined = r.Pool === '' ? undefined : network(parseField('--subnet', r.Pool, parseCidr));
      const range: Cidr | undefined =
        r.SubPool === '' ? undefined : network(parseField('--ip-range', r.SubPool, parseCidr));
      const group = fanGroupOption(r.Options, '--ipam-opt');
      const pool = await requestPool(deps, {
        ...(subnet ? { subnet } : {}),
        ...(range ? { range } : {}),
        ...(group !== undefined ? { group } : {}),
        v6: r.V6,
      });
      if (group !== undefined) deps.log(`pool ${pool.id}: addresses of group ${group}`);
      if (subnet && !equalCidr(subnet, pool.pool))
        deps.log(`pool ${formatCidr(subnet)} is fan ${pool.fan.bridge}: this host's slice ${formatCidr(pool.pool)}`);
      return { PoolID: pool.id, Pool: formatCidr(pool.pool), Data: {} };
    },
    '/IpamDriver.ReleasePool': (body) => {
      decode(releasePoolSchema, 'ReleasePool', body);
      return Promise.resolve({}); // pools are computed, not held: nothing to free
    },
    '/IpamDriver.RequestAddress': async (body) => {
      const r = decode(requestAddressSchema, 'RequestAddress', body);
      const address = r.Address === '' ? undefined : bareAddress('address', r.Address);
      const gateway = r.Options[GATEWAY_REQUEST.key] === GATEWAY_REQUEST.value;
      const got = await requestAddress(deps, {
        poolId: r.PoolID,
        gateway,
        ...(address !== undefined ? { address } : {}),
      });
      return { Address: formatCidr(got), Data: {} };
    },
    '/IpamDriver.ReleaseAddress': async (body) => {
      const r = decode(releaseAddressSchema, 'ReleaseAddress', body);
      const released = await releaseAddress(deps, { poolId: r.PoolID, address: bareAddress('address', r.Address) });
      for (const l of released) deps.log(`released ${formatIpv4(l.address)} (${l.owner})`);
      return {};
    },

    // ---- network driver ----
    '/NetworkDriver.GetCapabilities': () => Promise.resolve({ Scope: 'local', ConnectivityScope: 'local' }),
    '/NetworkDriver.CreateNetwork': async (body) => {
      const r = decode(createNetworkSchema, 'CreateNetwork', body);
      const fan = await checkNetwork(deps, {
        pools: r.IPv4Data.map((d) => ({
          pool: network(parseField('pool', d.Pool, parseCidr)),
          ...(d.Gateway !== '' ? { gateway: parseField('gateway', d.Gateway, parseCidr) } : {}),
        })),
        ipv6: r.IPv6Data.length > 0,
      });
      // `-o fan.group=web` reaches only the network driver (Docker gives the IPAM driver --ipam-opt): checked
      // here, so a typo fails `network create`; the addresses follow --ipam-opt fan.group.
      const generic = r.Options['com.docker.network.generic'];
      const group =
        generic !== null && typeof generic === 'object'
          ? fanGroupOption(generic as Record<string, unknown>, '-o')
          : undefined;
      if (group !== undefined) await groupPoolOf(deps, fan, group);
      await deps.networkGroups?.set(r.NetworkID, group);
      deps.log(
        `network ${r.NetworkID.slice(0, 12)}: ` +
          `slice ${formatCidr(fan.host.slice)} on ${fan.bridge}${group !== undefined ? `, group ${group}` : ''}`,
      );
      return {};
    },
    '/NetworkDriver.DeleteNetwork': async (body) => {
      const r = decode(networkSchema, 'DeleteNetwork', body);
      await deps.networkGroups?.set(r.NetworkID, undefined);
      return {}; // the bridge is the fan's: it stays
    },
    '/NetworkDriver.CreateEndpoint': async (body) => {
      const r = decode(createEndpointSchema, 'CreateEndpoint', body);
      if (r.Interface.AddressIPv6 !== '')
        throw new ConfigError('the fan network driver has no IPv6', 'create the network without --ipv6');
      const ep = await createEndpoint(deps, {
        networkId: r.NetworkID,
        endpointId: r.EndpointID,
        ...(r.Interface.Address !== '' ? { address: parseField('address', r.Interface.Address, parseCidr) } : {}),
        ...(r.Interface.MacAddress !== '' ? { mac: r.Interface.MacAddress } : {}),
      });
      deps.log(`endpoint ${r.EndpointID.slice(0, 12)}: ${ep.hostIf} on ${ep.fan.bridge}, ${ep.peer} for the container`);
      // Docker refuses an answer that changes what it set: return only the MAC, and only when it chose none.
      return { Interface: r.Interface.MacAddress === '' && ep.mac !== undefined ? { MacAddress: ep.mac } : {} };
    },
    '/NetworkDriver.EndpointOperInfo': (body) => {
      decode(endpointSchema, 'EndpointOperInfo', body);
      return Promise.resolve({ Value: {} });
    },
    '/NetworkDriver.DeleteEndpoint': async (body) => {
      const r = decode(endpointSchema, 'DeleteEndpoint', body);
      if (await unpublishPorts(deps, { endpointId: r.EndpointID }))
        deps.log(`endpoint ${r.EndpointID.slice(0, 12)}: published ports removed`);
      if (await deleteEndpoint(deps, { endpointId: r.EndpointID }))
        deps.log(`endpoint ${r.EndpointID.slice(0, 12)}: veth deleted`);
      return {};
    },
    '/NetworkDriver.Join': async (body) => {
      const r = decode(joinSchema, 'Join', body);
      const j = await joinEndpoint(deps, { endpointId: r.EndpointID });
      return {
        InterfaceName: { SrcName: j.peer, DstPrefix: 'eth' },
        Gateway: formatIpv4(j.gateway),
        StaticRoutes: [],
        DisableGatewayService: false,
      };
    },
    '/NetworkDriver.Leave': async (body) => {
      // Docker moves the interface back out of the container after Leave; DeleteEndpoint removes the veth.
      const r = decode(endpointSchema, 'Leave', body);
      if (await unpublishPorts(deps, { endpointId: r.EndpointID }))
        deps.log(`endpoint ${r.EndpointID.slice(0, 12)}: published ports removed`);
      return {};
    },
    '/NetworkDriver.ProgramExternalConnectivity': async (body) => {
      // Egress is the fan's own NAT (fanctl up); ingress is the published ports.
      const r = decode(externalConnectivitySchema, 'ProgramExternalConnectivity', body);
      const ports = publishedPorts(r.Options.portmap, deps.log);
      const entry = await publishPorts(deps, { networkId: r.NetworkID, endpointId: r.EndpointID, ports });
      if (entry)
        deps.log(
          `endpoint ${r.EndpointID.slice(0, 12)}: published ` +
            `${ports.map((p) => `${p.hostPort}/${p.proto}->${formatIpv4(entry.address)}:${p.port}`).join(', ')}`,
        );
      return {};
    },
    '/NetworkDriver.RevokeExternalConnectivity': async (body) => {
      const r = decode(endpointSchema, 'RevokeExternalConnectivity', body);
      if (await unpublishPorts(deps, { endpointId: r.EndpointID }))
        deps.log(`endpoint ${r.EndpointID.slice(0, 12)}: published ports removed`);
      return {};
    },
    '/NetworkDriver.DiscoverNew': () => Promise.resolve({}),
    '/NetworkDriver.DiscoverDelete': () => Promise.resolve({}),
  };
  return handlers;
}

/** The answer to a path no handler serves. */
export function unknownCall(path: string): DockerProtocolError {
  return new DockerProtocolError(404, `no handler for ${path}`, 'this Docker asks for a plugin API fan does not serve');
}

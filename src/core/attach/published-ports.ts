/**
 * Ports Docker publishes (`docker run -p HOST:CONTAINER`) for containers on a fan network. Docker leaves port
 * publishing to a remote network driver: it hands the bindings over in CreateEndpoint, Join and
 * ProgramExternalConnectivity and starts no proxy and writes no rule of its own for them. fan forwards each
 * binding with a DNAT rule in its own nftables table (src/codec/nft-ports.ts). Pure.
 */
import { type Ipv4, formatIpv4 } from '../address/ipv4.js';
import { ConfigError } from '../errors.js';

export type PortProto = 'tcp' | 'udp' | 'sctp';

export interface PublishedPort {
  readonly proto: PortProto;
  /** Only traffic to this host address; absent: any address of the host. */
  readonly hostIp?: Ipv4;
  readonly hostPort: number;
  /** The container's port. */
  readonly port: number;
}

export interface PublishedEndpoint {
  readonly endpointId: string;
  readonly networkId: string;
  /** The container's address on the fan. */
  readonly address: Ipv4;
  readonly ports: readonly PublishedPort[];
}

export function describePort(p: PublishedPort): string {
  return `${p.hostIp === undefined ? '' : `${formatIpv4(p.hostIp)}:`}${p.hostPort}/${p.proto}`;
}

function overlaps(a: PublishedPort, b: PublishedPort): boolean {
  return (
    a.proto === b.proto &&
    a.hostPort === b.hostPort &&
    (a.hostIp === undefined || b.hostIp === undefined || a.hostIp === b.hostIp)
  );
}

/**
 * The table with `entry` in place of the endpoint's previous one (or without it, when `entry` is undefined).
 * Refuses a host port another endpoint already publishes: one DNAT rule would shadow the other.
 */
export function replacePublished(
  entries: readonly PublishedEndpoint[],
  endpointId: string,
  entry: PublishedEndpoint | undefined,
): PublishedEndpoint[] {
  const others = entries.filter((e) => e.endpointId !== endpointId);
  if (entry === undefined || entry.ports.length === 0) return others;
  for (const p of entry.ports) {
    const holder = others.find((e) => e.ports.some((q) => overlaps(p, q)));
    if (holder) {
      throw new ConfigError(
        `host port ${describePort(p)} is already published for ${formatIpv4(holder.address)} ` +
          `(endpoint ${holder.endpointId.slice(0, 12)})`,
        'publish another host port (-p OTHER:PORT), or stop the container that holds it',
      );
    }
    const twice = entry.ports.filter((q) => overlaps(p, q));
    if (twice.length > 1)
      throw new ConfigError(
        `host port ${describePort(p)} is published twice for one container`,
        'give each -p its own host port',
      );
  }
  return [...others, entry];
}

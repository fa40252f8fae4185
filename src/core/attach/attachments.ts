/**
 * What is attached to one fan bridge, joined from the three places that know: the IPAM's leases (CNI and Docker
 * addresses, with the Kubernetes pod when the runtime named it), the bridge's ports (fan's host veths carry an
 * alias naming their owner) and dnsmasq's leases (DHCP clients such as LXD instances). Pure: the caller reads them.
 * A lease whose host veth is missing, or a veth without a lease, is listed with the problem named.
 */
import { formatIpv4, parseIpv4 } from '../address/ipv4.js';
import type { DnsmasqLease } from '../../codec/dnsmasq-leases.js';
import type { Lease, PodRef } from '../ipam/leases.js';
import type { InterfaceFacts } from '../model/host-facts.js';
import { hostVethName, parseCniAlias, parseDockerAlias } from './names.js';

export type AttachmentRuntime = 'cni' | 'docker' | 'dhcp' | 'other';

export interface AttachmentRow {
  readonly bridge: string;
  readonly runtime: AttachmentRuntime;
  readonly address?: string;
  /** The host end on the bridge. */
  readonly hostIf?: string;
  /** The interface inside the container (CNI_IFNAME). */
  readonly ifname?: string;
  /** CNI network name, or Docker network id. */
  readonly network?: string;
  /** CNI container id (for Kubernetes: the pod sandbox id). */
  readonly containerId?: string;
  readonly endpointId?: string;
  readonly pod?: PodRef;
  /** The IPAM owner key, for leases. */
  readonly owner?: string;
  readonly mac?: string;
  readonly hostname?: string;
  /** ISO time the address was handed out (IPAM leases). */
  readonly since?: string;
  readonly problems: readonly string[];
}

export interface BridgeFacts {
  readonly bridge: string;
  readonly leases: readonly Lease[];
  /** Interfaces of the host (ports of other bridges are ignored). */
  readonly interfaces: readonly InterfaceFacts[];
  readonly dhcpLeases: readonly DnsmasqLease[];
}

/** `cni:<network>:<container id>` → its parts (network names have no ":"). */
export function parseCniOwner(owner: string): { readonly network: string; readonly containerId: string } | undefined {
  const m = /^cni:([^:]+):(.+)$/.exec(owner);
  return m?.[1] !== undefined && m[2] !== undefined ? { network: m[1], containerId: m[2] } : undefined;
}

function runtimeOfOwner(owner: string): AttachmentRuntime {
  if (owner.startsWith('cni:')) return 'cni';
  if (owner.startsWith('docker:')) return 'docker';
  return 'other';
}

function addressOrder(row: AttachmentRow): number {
  try {
    return row.address === undefined ? Number.MAX_SAFE_INTEGER : parseIpv4(row.address);
  } catch {
    return Number.MAX_SAFE_INTEGER;
  }
}

export function bridgeAttachments(facts: BridgeFacts): AttachmentRow[] {
  const { bridge } = facts;
  const ports = new Map(facts.interfaces.filter((i) => i.master === bridge).map((i) => [i.name, i] as const));
  const claimed = new Set<string>();
  const rows: AttachmentRow[] = [];
  for (const lease of facts.leases) {
    const runtime = runtimeOfOwner(lease.owner);
    const base = {
      bridge,
      runtime,
      address: formatIpv4(lease.address),
      owner: lease.owner,
      since: lease.since,
      ...(lease.pod ? { pod: lease.pod } : {}),
    };
    const cni = runtime === 'cni' ? parseCniOwner(lease.owner) : undefined;
    if (!cni) {
      rows.push({ ...base, problems: [] });
      continue;
    }
    const hostIf = hostVethName(cni.containerId, lease.ifname);
    const port = ports.get(hostIf);
    if (port) claimed.add(hostIf);
    rows.push({
      ...base,
      hostIf,
      ifname: lease.ifname,
      network: cni.network,
      containerId: cni.containerId,
      problems: port ? [] : [`host interface ${hostIf} is not on ${bridge} (a stale lease: CNI DEL or GC frees it)`],
    });
  }
  for (const port of ports.values()) {
    if (claimed.has(port.name)) continue;
    const cni = parseCniAlias(port.alias);
    if (cni) {
      rows.push({
        bridge,
        runtime: 'cni',
        hostIf: port.name,
        ifname: cni.ifname,
        network: cni.network,
        containerId: cni.containerId,
        problems: [`no lease for container ${cni.containerId} (${cni.ifname})`],
      });
      continue;
    }
    const docker = parseDockerAlias(port.alias);
    if (docker)
      rows.push({
        bridge,
        runtime: 'docker',
        hostIf: port.name,
        network: docker.networkId,
        endpointId: docker.endpointId,
        problems: [],
      });
  }
  for (const l of facts.dhcpLeases) {
    rows.push({
      bridge,
      runtime: 'dhcp',
      address: l.address,
      mac: l.mac,
      ...(l.hostname !== undefined ? { hostname: l.hostname } : {}),
      problems: [],
    });
  }
  return rows.sort((a, b) => addressOrder(a) - addressOrder(b) || (a.hostIf ?? '').localeCompare(b.hostIf ?? ''));
}

/** Who the attachment is for, in one phrase: `k8s shop/web-0`, the container id, the DHCP hostname, … */
export function describeOwner(row: AttachmentRow): string {
  if (row.pod) return `k8s ${row.pod.namespace}/${row.pod.name}`;
  if (row.containerId !== undefined) return `container ${row.containerId.slice(0, 12)}`;
  if (row.endpointId !== undefined) return `endpoint ${row.endpointId.slice(0, 12)}`;
  if (row.hostname !== undefined) return `host ${row.hostname}`;
  return row.owner ?? row.mac ?? '-';
}

/**
 * Containers' host veths across `up` and `down`. A veth fan attached is recognised by its name and label
 * (src/core/attach/names.ts) or, when a run died before labelling it, by its name and fan's device group. Where it
 * belongs is its bridge while it has one, and otherwise the bridge whose lease table holds its attachment (a CNI
 * lease names the veth through its owner and interface name, a Docker veth's label carries its leased address):
 * deleting a bridge by hand leaves its ports on no bridge, and the IPAM still knows where they were.
 *
 * `up` puts a veth that is on no bridge back on its bridge; `down --force` deletes the veths of the bridges that
 * leave. Pure: the caller reads the links and the lease tables.
 */
import { parseIpv4 } from '../address/ipv4.js';
import { parseCniOwner } from '../attach/attachments.js';
import { HOST_VETH, hostVethName, isUnlabelledHostVeth, parseCniAlias, parseDockerAlias } from '../attach/names.js';
import type { Lease } from '../ipam/leases.js';
import type { CurrentHost, DesiredHost, LinkState } from '../model/host-state.js';
import type { Op } from './ops.js';

export interface LeaseTableView {
  readonly bridge: string;
  readonly leases: readonly Lease[];
}

/** A host veth of fan's and the bridge it belongs on. */
export interface VethHome {
  readonly dev: string;
  readonly bridge: string;
  /** False when it is on no bridge now. */
  readonly attached: boolean;
}

export function isFanHostVeth(link: Pick<LinkState, 'name' | 'alias' | 'group'>): boolean {
  return (
    HOST_VETH.test(link.name) &&
    (parseCniAlias(link.alias) !== undefined ||
      parseDockerAlias(link.alias) !== undefined ||
      isUnlabelledHostVeth(link))
  );
}

function dottedQuad(text: string | undefined): number | undefined {
  try {
    return text === undefined ? undefined : parseIpv4(text);
  } catch {
    return undefined;
  }
}

/** Every host veth of fan's whose bridge is known: its master, or the bridge whose lease table holds it. */
export function vethHomes(links: readonly LinkState[], tables: readonly LeaseTableView[]): VethHome[] {
  const byName = new Map<string, string>();
  const byAddress = new Map<number, string>();
  for (const table of tables) {
    for (const lease of table.leases) {
      const cni = parseCniOwner(lease.owner);
      if (cni) byName.set(hostVethName(cni.containerId, lease.ifname), table.bridge);
      byAddress.set(lease.address, table.bridge);
    }
  }
  return links.filter(isFanHostVeth).flatMap((link): VethHome[] => {
    if (link.master !== undefined) return [{ dev: link.name, bridge: link.master, attached: true }];
    const address = dottedQuad(parseDockerAlias(link.alias)?.address);
    const bridge = byName.get(link.name) ?? (address === undefined ? undefined : byAddress.get(address));
    return bridge === undefined ? [] : [{ dev: link.name, bridge, attached: false }];
  });
}

/**
 * The veth operations, to follow diffHost's (the bridges exist by then): each veth on no bridge whose bridge is
 * wanted goes back on it; each veth of a bridge in `detach` is deleted. Deletions come last of all, as they cannot
 * be rolled back (the container end goes with the veth).
 */
export function diffPorts(
  current: Pick<CurrentHost, 'links'>,
  desired: Pick<DesiredHost, 'bridges'>,
  homes: readonly VethHome[],
  detach: ReadonlySet<string> = new Set(),
): Op[] {
  const wanted = new Set(desired.bridges.map((b) => b.name));
  const present = new Set(current.links.map((l) => l.name));
  const attach: Op[] = [];
  const remove: Op[] = [];
  for (const home of homes) {
    if (!present.has(home.dev)) continue;
    if (detach.has(home.bridge)) remove.push({ kind: 'port-del', dev: home.dev, bridge: home.bridge });
    else if (!home.attached && wanted.has(home.bridge))
      attach.push({ kind: 'port-attach', dev: home.dev, bridge: home.bridge });
  }
  return [...attach, ...remove];
}

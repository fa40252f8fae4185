/**
 * Names and labels of the links fan creates for container attachments. Deterministic, so DEL and GC find what ADD
 * created without any state: the host end of a container's veth is `fan` + 8 hex digits of a hash of
 * (container id, interface name), and carries an alias that names its owner (`ip link show` shows who it is for).
 */
import { createHash } from 'node:crypto';
import { FAN_ALIAS_PREFIX } from '../model/host-state.js';

/** `fan` + 8 hex: 11 characters (IFNAMSIZ allows 15), distinct from fan's own `fan-…` devices. */
export function hostVethName(containerId: string, ifname: string): string {
  return `fan${createHash('sha256').update(`${containerId}\0${ifname}`).digest('hex').slice(0, 8)}`;
}

export const HOST_VETH = /^fan[0-9a-f]{8}$/;

/** The IPAM owner of a CNI attachment: network name + container id (the interface name is the lease's ifname). */
export function cniOwner(network: string, containerId: string): string {
  return `cni:${network}:${containerId}`;
}

export function isCniOwnerOf(network: string, owner: string): boolean {
  return owner.startsWith(`cni:${network}:`);
}

export function containerIdOfOwner(network: string, owner: string): string | undefined {
  return isCniOwnerOf(network, owner) ? owner.slice(`cni:${network}:`.length) : undefined;
}

const CNI_ALIAS = `${FAN_ALIAS_PREFIX} cni `;

export interface CniAliasFields {
  readonly network: string;
  readonly containerId: string;
  readonly ifname: string;
}

/** `fan: cni <network> <container id> <ifname>`: marks a host veth as fan's, and says for whom. */
export function cniAlias(fields: CniAliasFields): string {
  return `${CNI_ALIAS}${fields.network} ${fields.containerId} ${fields.ifname}`;
}

export function parseCniAlias(alias: string | undefined): CniAliasFields | undefined {
  if (alias === undefined || !alias.startsWith(CNI_ALIAS)) return undefined;
  const [network, containerId, ifname, ...rest] = alias.slice(CNI_ALIAS.length).split(' ');
  if (!network || !containerId || !ifname || rest.length > 0) return undefined;
  return { network, containerId, ifname };
}

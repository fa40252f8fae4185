/**
 * Names and labels of the links fan creates for container attachments. Deterministic, so DEL and GC find what ADD
 * created without any state: the host end of a container's veth is `fan` + 8 hex digits of a hash of
 * (container id, interface name), and carries an alias that names its owner (`ip link show` shows who it is for).
 */
import { createHash } from 'node:crypto';
import { FAN_ALIAS_PREFIX, FAN_LINK_GROUP } from '../model/host-state.js';

/** `fan` + 8 hex: 11 characters (IFNAMSIZ allows 15), distinct from fan's own `fan-…` devices. */
export function hostVethName(containerId: string, ifname: string): string {
  return `fan${createHash('sha256').update(`${containerId}\0${ifname}`).digest('hex').slice(0, 8)}`;
}

export const HOST_VETH = /^fan[0-9a-f]{8}$/;

/**
 * True for a host veth of fan's that is not labelled (yet): created with fan's device group in the creating call,
 * but the run that made it died before it set the alias. Its name still says which attachment it was for.
 */
export function isUnlabelledHostVeth(link: {
  readonly name: string;
  readonly alias?: string;
  readonly group?: string;
}): boolean {
  return HOST_VETH.test(link.name) && link.group === FAN_LINK_GROUP && (link.alias ?? '') === '';
}

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

/**
 * The veth of a Docker endpoint: `hostIf` stays on the fan bridge; `peer` is created next to it and handed to
 * Docker (Join's SrcName), which moves it into the container and renames it `ethN`. Both names follow from the
 * endpoint id alone, so Join and DeleteEndpoint find them without state. `fanp…` never matches HOST_VETH.
 */
export function dockerVethNames(endpointId: string): { readonly hostIf: string; readonly peer: string } {
  const hash = createHash('sha256').update(`${endpointId}\0docker`).digest('hex').slice(0, 8);
  return { hostIf: `fan${hash}`, peer: `fanp${hash}` };
}

const DOCKER_ALIAS = `${FAN_ALIAS_PREFIX} docker `;

export interface DockerAliasFields {
  readonly networkId: string;
  readonly endpointId: string;
  /** The endpoint's address (dotted quad), which published ports forward to; absent in aliases of older versions. */
  readonly address?: string;
}

/** `fan: docker <network id> <endpoint id> [<address>]`: marks the host end of a Docker endpoint's veth. */
export function dockerAlias(fields: DockerAliasFields): string {
  return (
    `${DOCKER_ALIAS}${fields.networkId} ` +
    `${fields.endpointId}${fields.address === undefined ? '' : ` ${fields.address}`}`
  );
}

export function parseDockerAlias(alias: string | undefined): DockerAliasFields | undefined {
  if (alias === undefined || !alias.startsWith(DOCKER_ALIAS)) return undefined;
  const [networkId, endpointId, address, ...rest] = alias.slice(DOCKER_ALIAS.length).split(' ');
  if (!networkId || !endpointId || rest.length > 0 || address === '') return undefined;
  return { networkId, endpointId, ...(address !== undefined ? { address } : {}) };
}

/**
 * The IPAM owner of an address Docker requested from pool `poolId`. Docker names no endpoint when it asks for an
 * address (RequestAddress carries only the pool and options), so each request gets a fresh id; ReleaseAddress
 * names the pool and the address, which is how the lease is found again (see app/docker.ts).
 */
export function dockerOwner(poolId: string, requestId: string): string {
  return `${dockerPoolOwnerPrefix(poolId)}${requestId}`;
}

export function dockerPoolOwnerPrefix(poolId: string): string {
  return `docker:${poolId}:`;
}

/** True when `owner` is a Docker lease of exactly `poolId` (not of a longer pool id that starts the same). */
export function isDockerOwnerOf(poolId: string, owner: string): boolean {
  const prefix = dockerPoolOwnerPrefix(poolId);
  return owner.startsWith(prefix) && !owner.slice(prefix.length).includes(':');
}

export function isDockerOwner(owner: string): boolean {
  return owner.startsWith('docker:');
}

/** The lease `ifname` of Docker's addresses (Docker picks the interface name in the container later). */
export const DOCKER_LEASE_IFNAME = 'docker';

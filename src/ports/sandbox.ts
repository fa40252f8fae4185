/**
 * The kernel operations container attachments need: a veth between a container's network namespace and a fan
 * bridge, the container's addressing, and reading both ends back. Implemented in src/kernel/sandbox-links.ts
 * (`ip`, `nsenter`) and by test fakes. `netns` is always a path (/var/run/netns/NAME or /proc/PID/ns/net).
 */
import type { Cidr, Ipv4 } from '../core/address/ipv4.js';
import type { InterfaceFacts, RouteFacts } from '../core/model/host-facts.js';

export interface VethRequest {
  readonly netns: string;
  /** Container end (CNI_IFNAME). */
  readonly ifname: string;
  /** Host end, created in the current namespace and attached to `bridge`. */
  readonly hostIf: string;
  readonly mtu: number;
  readonly bridge: string;
  readonly alias: string;
}

export interface ContainerAddressing {
  readonly netns: string;
  readonly ifname: string;
  readonly address: Cidr;
  readonly gateway: Ipv4;
}

/**
 * A container's veth with its addressing: `createAttachedVeth` makes it in one go. `mac` is the container end's
 * address, set when it is created (the port binding names it before the veth exists). `portBlock`: a fast path's
 * fan: also bind the host end to the bridge's tc shared block and enter the container in the accelerator map.
 */
export type AttachedVethRequest = VethRequest &
  Omit<ContainerAddressing, 'netns' | 'ifname'> & {
    /**
     * Settles when the port's binding is in place (src/app/port-bindings.ts). The veth may be created before, but
     * its host end goes up (and its container end gets its address) only once this resolves; when it rejects,
     * the veth is removed and its error thrown.
     */
    readonly bound: Promise<unknown>;
    readonly mac?: string;
    readonly portBlock?: number;
    /** What the fast path may keep its map ids with between calls (the fan of a cached view). */
    readonly fastPathScope?: object;
  };

export interface SandboxLinks {
  netnsExists(netns: string): Promise<boolean>;
  /**
   * Creates the veth (host end on the bridge with the alias, container end `ifname` in `netns`) and, once
   * `req.bound` resolves, brings the host end up and the container end up with its address and a default route via
   * the gateway; returns both ends. Throws
   * InterfaceExistsError (src/core/attach/errors.ts), changing nothing, when the host end's or the container
   * interface's name is taken. Leaves nothing behind when it fails.
   */
  createAttachedVeth(
    req: AttachedVethRequest,
  ): Promise<{ readonly host: InterfaceFacts; readonly container: InterfaceFacts }>;
  containerLink(netns: string, ifname: string): Promise<InterfaceFacts | undefined>;
  containerRoutes(netns: string): Promise<RouteFacts[]>;
  hostLink(name: string): Promise<InterfaceFacts | undefined>;
  hostLinks(): Promise<InterfaceFacts[]>;
  /** Deletes a host link (and so its veth peer); false when it did not exist. */
  deleteHostLink(name: string): Promise<boolean>;
}

/** A veth whose both ends start in this namespace: the runtime moves `peer` into the container itself (Docker). */
export interface VethPairRequest {
  /** Stays here, attached to `bridge`, up, labelled with `alias`. */
  readonly hostIf: string;
  /** Left down here for the runtime to move. */
  readonly peer: string;
  readonly mtu: number;
  readonly bridge: string;
  readonly alias: string;
  /** MAC address of `peer`; the kernel picks one when absent. */
  readonly peerMac?: string;
  /**
   * A fast path's fan: also bind the host end to the bridge's tc shared block, and enter `peer` under this address
   * in the accelerator map.
   */
  readonly fastPath?: { readonly address: Ipv4; readonly block: number };
}

/** The part of the link operations the Docker driver uses (the smallest port that serves it). */
export interface HostVeths extends Pick<SandboxLinks, 'hostLink' | 'deleteHostLink'> {
  /** Creates the pair; returns both ends. Leaves nothing behind when it fails. */
  createVethPair(req: VethPairRequest): Promise<{ readonly host: InterfaceFacts; readonly peer: InterfaceFacts }>;
  /** Removes an address from the fast path's accelerator map (best effort; nothing to do without such a fan). */
  forgetPeerMapAddress(address: Ipv4): Promise<void>;
}

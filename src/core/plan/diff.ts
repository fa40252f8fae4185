/**
 * diff(current, desired) → ordered operations. Pure. Creation runs outer to inner (links, addresses, programs,
 * routes, firewall, daemons); removal runs the other way. Objects that exist but do not carry fan's mark are never
 * changed: they are reported as conflicts instead.
 */
import { equalCidr } from '../address/ipv4.js';
import { ConfigError } from '../errors.js';
import {
  type CurrentHost,
  type DesiredHost,
  type DhcpSpec,
  type LinkState,
  type NatSpec,
  type OverlayEntry,
  type RouteSpec,
  FAN_NFT_TABLE,
  isFanOwned,
} from '../model/host-state.js';
import type { Op } from './ops.js';

/** Stable text key of a spec, stored with the object so a later run can tell whether it changed. */
export function contentKey(value: unknown): string {
  const text = JSON.stringify(value);
  let hash = 0x811c9dc5; // FNV-1a: small, stable, good enough to detect change (not security)
  for (let i = 0; i < text.length; i++) {
    hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

export const natKey = (nat: NatSpec): string => contentKey(nat);
export const dhcpKey = (dhcp: DhcpSpec): string => contentKey(dhcp);

function sameRoute(a: RouteSpec, b: RouteSpec): boolean {
  return equalCidr(a.dst, b.dst) && a.dev === b.dev && a.via === b.via && a.src === b.src && a.mtu === b.mtu;
}

function sameTable(a: readonly OverlayEntry[] | undefined, b: readonly OverlayEntry[]): boolean {
  return a !== undefined && contentKey(a) === contentKey(b);
}

function requireOwned(link: LinkState, what: string): void {
  if (!isFanOwned(link)) {
    throw new ConfigError(
      `${link.name} already exists and was not created by fan; fan will not change it`,
      `remove ${link.name} yourself, or give this fan another ${what} name (--bridge NAME)`,
    );
  }
}

export function diffHost(current: CurrentHost, desired: DesiredHost): Op[] {
  const ops: Op[] = [];
  const links = new Map(current.links.map((l) => [l.name, l]));
  const anyFan = desired.bridges.length > 0;

  if (anyFan && !current.ipForward) ops.push({ kind: 'ip-forward' });

  for (const bridge of desired.bridges) {
    const link = links.get(bridge.name);
    if (!link) {
      ops.push({ kind: 'bridge-add', bridge });
      for (const cidr of bridge.addresses) ops.push({ kind: 'addr-add', dev: bridge.name, cidr });
      ops.push({ kind: 'link-up', name: bridge.name });
      continue;
    }
    requireOwned(link, 'bridge');
    if (link.mtu !== bridge.mtu) ops.push({ kind: 'link-mtu', name: bridge.name, mtu: bridge.mtu });
    for (const cidr of bridge.addresses) {
      if (!link.addresses.some((a) => equalCidr(a, cidr))) ops.push({ kind: 'addr-add', dev: bridge.name, cidr });
    }
    for (const cidr of link.addresses) {
      if (!bridge.addresses.some((a) => equalCidr(a, cidr))) ops.push({ kind: 'addr-del', dev: bridge.name, cidr });
    }
    if (!link.up) ops.push({ kind: 'link-up', name: bridge.name });
  }

  const tunnel = desired.tunnel;
  if (tunnel) {
    const link = links.get(tunnel.name);
    if (!link) {
      ops.push({ kind: 'tunnel-add', tunnel }, { kind: 'tc-attach', dev: tunnel.name });
      ops.push({ kind: 'overlay-table', dev: tunnel.name, overlays: tunnel.overlays }, { kind: 'link-up', name: tunnel.name });
    } else {
      requireOwned(link, 'tunnel');
      if (link.mtu !== tunnel.mtu) ops.push({ kind: 'link-mtu', name: tunnel.name, mtu: tunnel.mtu });
      const attached = (direction: 'ingress' | 'egress'): boolean =>
        current.tcPrograms.some((p) => p.dev === tunnel.name && p.direction === direction);
      const reattach = !attached('ingress') || !attached('egress');
      if (reattach) ops.push({ kind: 'tc-attach', dev: tunnel.name });
      if (reattach || !sameTable(current.overlayTable, tunnel.overlays)) {
        ops.push({ kind: 'overlay-table', dev: tunnel.name, overlays: tunnel.overlays });
      }
      if (!link.up) ops.push({ kind: 'link-up', name: tunnel.name });
    }
  }

  for (const hg of desired.hostGw) {
    if (!links.has(hg.dev)) throw new ConfigError(`underlay device ${hg.dev} does not exist`, 'check the underlay of the host-gw fan');
    const state = current.hostGw.find((h) => h.dev === hg.dev);
    if (state?.neighbourMac !== hg.mac) ops.push({ kind: 'placeholder-neigh', dev: hg.dev, mac: hg.mac });
    if (!state?.attached) ops.push({ kind: 'hostgw-attach', dev: hg.dev });
    if (!state?.attached || !sameTable(state.overlays, hg.overlays)) ops.push({ kind: 'overlay-table', dev: hg.dev, overlays: hg.overlays });
  }

  for (const route of desired.routes) {
    if (!current.routes.some((r) => sameRoute(r, route))) ops.push({ kind: 'route-replace', route });
  }

  if (desired.nat && current.nftForeign) {
    throw new ConfigError(
      `an nftables table "ip ${FAN_NFT_TABLE}" exists that fan did not create; fan will not replace it`,
      `inspect it with nft list table ip ${FAN_NFT_TABLE} and remove or rename it`,
    );
  }
  if (desired.nat && current.nftKey !== natKey(desired.nat)) ops.push({ kind: 'nft-replace', nat: desired.nat });

  if (current.iptables) {
    for (const accept of desired.forwardAccept) {
      const present = current.forwardAccept.find((a) => a.bridge === accept.bridge);
      if (present?.from === accept.from) continue;
      // Rules accepting from another device (the fan changed type or underlay) are replaced, not kept.
      if (present) ops.push({ kind: 'forward-accept-del', bridge: accept.bridge });
      ops.push({ kind: 'forward-accept-add', ...accept, chain: current.forwardChain ?? 'FORWARD' });
    }
  }

  for (const dhcp of desired.dhcp) {
    const running = current.dhcp.find((d) => d.bridge === dhcp.bridge);
    if (running && running.key === dhcpKey(dhcp)) continue;
    if (running) ops.push({ kind: 'dhcp-stop', bridge: running.bridge, pid: running.pid });
    ops.push({ kind: 'dhcp-start', dhcp });
  }

  // Removal, inner to outer.
  for (const running of current.dhcp) {
    if (!desired.dhcp.some((d) => d.bridge === running.bridge)) ops.push({ kind: 'dhcp-stop', bridge: running.bridge, pid: running.pid });
  }
  for (const { bridge } of current.forwardAccept) {
    if (!desired.forwardAccept.some((a) => a.bridge === bridge)) ops.push({ kind: 'forward-accept-del', bridge });
  }
  if (!desired.nat && current.nftKey !== undefined) ops.push({ kind: 'nft-delete' });
  for (const route of current.routes) {
    if (!desired.routes.some((r) => sameRoute(r, route)) && !desired.routes.some((r) => equalCidr(r.dst, route.dst))) {
      ops.push({ kind: 'route-del', route });
    }
  }
  for (const state of current.hostGw) {
    if (desired.hostGw.some((h) => h.dev === state.dev)) continue;
    if (state.attached) ops.push({ kind: 'hostgw-detach', dev: state.dev });
    if (state.neighbourMac !== undefined) ops.push({ kind: 'placeholder-neigh-del', dev: state.dev });
  }
  for (const link of current.links) {
    if (!isFanOwned(link)) continue;
    const wanted = desired.bridges.some((b) => b.name === link.name) || desired.tunnel?.name === link.name;
    if (!wanted && (link.kind === 'bridge' || link.kind === 'vxlan')) ops.push({ kind: 'link-del', name: link.name });
  }
  return ops;
}


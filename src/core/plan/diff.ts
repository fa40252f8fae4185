/**
 * diff(current, desired) → ordered operations. Pure. Creation runs outer to inner (links, addresses, programs,
 * routes, firewall, daemons); removal runs the other way. Objects that exist but do not carry fan's mark are never
 * changed: they are reported as conflicts instead. Each removal or change carries what was there, so it can be
 * undone exactly.
 */
import { equalCidr } from '../address/ipv4.js';
import { ConfigError } from '../errors.js';
import {
  type CurrentHost,
  type DataplaneDevice,
  type DesiredHost,
  type DhcpSpec,
  type LinkSpec,
  type LinkState,
  type NatSpec,
  type OverlayEntry,
  type ProgramSpec,
  type RouteSpec,
  type TcProgramState,
  FAN_NFT_TABLE,
  isFanOwned,
} from '../model/host-state.js';
import type { Op, QdiscOwner } from './ops.js';
import { VXLAN_PORT } from '../../backends/vxlan/backend.js';
import { isRenderedTable } from '../../codec/nft.js';

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

function requireOwned(link: LinkState, hint: string): void {
  if (!isFanOwned(link)) {
    throw new ConfigError(`${link.name} already exists and was not created by fan; fan will not change it`, hint);
  }
}

/** The spec to rebuild a fan link from what was read back (for a rollback of its removal). */
function linkSpecOf(link: LinkState): LinkSpec {
  const alias = link.alias ?? '';
  return link.kind === 'vxlan'
    ? { type: 'vxlan', name: link.name, mtu: link.mtu, alias, mac: link.mac ?? '', port: VXLAN_PORT }
    : { type: 'bridge', name: link.name, mtu: link.mtu, alias, ...(link.mac ? { mac: link.mac } : {}) };
}

function diffBridges(current: CurrentHost, desired: DesiredHost, links: ReadonlyMap<string, LinkState>): Op[] {
  const ops: Op[] = [];
  for (const bridge of desired.bridges) {
    const link = links.get(bridge.name);
    if (!link) {
      const { name, mtu, alias, mac } = bridge;
      ops.push({ kind: 'link-add', link: { type: 'bridge', name, mtu, alias, mac } });
      for (const cidr of bridge.addresses) ops.push({ kind: 'addr-add', dev: bridge.name, cidr });
      ops.push({ kind: 'link-up', name: bridge.name });
      continue;
    }
    requireOwned(link, `remove ${link.name} yourself, or give this fan another bridge name (--bridge NAME)`);
    if (link.kind !== undefined && link.kind !== 'bridge') {
      throw new ConfigError(
        `${link.name} is fan's but is a ${link.kind}, not a bridge`,
        `delete it: ip link del ${link.name}`,
      );
    }
    if (link.alias !== bridge.alias)
      ops.push({ kind: 'link-alias', name: bridge.name, alias: bridge.alias, ...was(link.alias) });
    if (link.mtu !== bridge.mtu) ops.push({ kind: 'link-mtu', name: bridge.name, mtu: bridge.mtu, was: link.mtu });
    for (const cidr of bridge.addresses) {
      if (!link.addresses.some((a) => equalCidr(a, cidr))) ops.push({ kind: 'addr-add', dev: bridge.name, cidr });
    }
    for (const cidr of link.addresses) {
      if (!bridge.addresses.some((a) => equalCidr(a, cidr))) ops.push({ kind: 'addr-del', dev: bridge.name, cidr });
    }
    if (!link.up) ops.push({ kind: 'link-up', name: bridge.name });
  }
  return ops;
}

/** The spec of an attached program (one read back without a section name is the direction's default). */
const programSpec = (p: TcProgramState): ProgramSpec => ({
  direction: p.direction,
  section: p.section ?? `tc/${p.direction}`,
});

const was = <T>(value: T | undefined): { was?: T } => (value === undefined ? {} : { was: value });

/** Taking these programs off dev, with what a rollback needs to put them back (their block, their table). */
function detachOp(
  dev: string,
  programs: readonly TcProgramState[],
  qdisc: QdiscOwner,
): Extract<Op, { kind: 'tc-detach' }> {
  const block = programs.find((p) => p.block !== undefined)?.block;
  const overlays = (programs.find((p) => p.direction === 'egress') ?? programs[0])?.overlays;
  return {
    kind: 'tc-detach',
    dev,
    programs: programs.map(programSpec),
    qdisc,
    ...(block !== undefined ? { block } : {}),
    ...(overlays ? { overlays } : {}),
  };
}

/** One data-plane device: its link (when fan makes it), neighbour, programs and table. */
function diffDevice(
  current: CurrentHost,
  device: DataplaneDevice,
  links: ReadonlyMap<string, LinkState>,
  bridges: readonly string[],
): Op[] {
  const ops: Op[] = [];
  const link = links.get(device.dev);
  // A fan bridge (a fast path's programs) is fan's like its tunnel: its clsact goes with it.
  const fanBridge = bridges.includes(device.dev);
  const qdisc = device.link || fanBridge ? 'own' : 'shared';
  const block = device.block !== undefined ? { block: device.block } : {};
  const attach: Op = { kind: 'tc-attach', dev: device.dev, programs: device.programs, qdisc, ...block };
  const table: Op = { kind: 'overlay-table', dev: device.dev, overlays: device.overlays };
  if (device.link && !link) {
    ops.push({ kind: 'link-add', link: device.link }, attach, table, { kind: 'link-up', name: device.dev });
    return ops;
  }
  if (!link && fanBridge) return [attach, table]; // created earlier in this plan
  if (!link) {
    throw new ConfigError(
      `underlay device ${device.dev} does not exist`,
      `check the underlay of the ${device.backend} fan`,
    );
  }
  if (device.link) {
    requireOwned(link, `remove ${link.name} yourself (ip link del ${link.name}); fan needs that name for its tunnel`);
    if (link.alias !== device.link.alias) {
      ops.push({ kind: 'link-alias', name: device.dev, alias: device.link.alias, ...was(link.alias) });
    }
    if (link.mtu !== device.link.mtu)
      ops.push({ kind: 'link-mtu', name: device.dev, mtu: device.link.mtu, was: link.mtu });
  }
  if (device.neighbour) {
    const present = (current.neighbours ?? []).find(
      (n) => n.dev === device.dev && n.address === device.neighbour?.address,
    );
    if (present?.mac !== device.neighbour.mac) {
      ops.push({ kind: 'neigh-replace', dev: device.dev, ...device.neighbour, ...was(present?.mac) });
    }
  }
  let programs = current.tcPrograms.filter((p) => p.dev === device.dev);
  // On fan's own device, ingress programs outside the block the plan wants (or in one it does not): a qdisc's block
  // cannot be changed in place, so everything on the device comes off, qdisc included, and goes on again as planned.
  if (qdisc === 'own' && programs.some((p) => p.direction === 'ingress' && p.block !== device.block)) {
    ops.push(detachOp(device.dev, programs, qdisc));
    programs = [];
  }
  const complete = device.programs.every((want) =>
    programs.some((p) => p.direction === want.direction && (p.section === undefined || p.section === want.section)),
  );
  // A direction the plan leaves empty (the fast path's program after a switch back to the kernel path) is cleared.
  const unwanted = programs.filter((p) => !device.programs.some((want) => want.direction === p.direction));
  if (unwanted.length > 0) ops.push({ ...detachOp(device.dev, unwanted, qdisc), keepQdisc: true });
  if (!complete) ops.push(attach, table);
  else if (programs.some((p) => !sameTable(p.overlays, device.overlays))) {
    ops.push({ ...table, ...was(programs.find((p) => p.direction === 'egress')?.overlays) });
  }
  if (device.link && !link.up) ops.push({ kind: 'link-up', name: device.dev });
  return ops;
}

/** fan's programs and neighbours on devices no backend wants any more. */
function removeDevices(current: CurrentHost, desired: DesiredHost, links: ReadonlyMap<string, LinkState>): Op[] {
  const ops: Op[] = [];
  const wanted = (dev: string): DataplaneDevice | undefined => desired.devices.find((d) => d.dev === dev);
  for (const dev of new Set(current.tcPrograms.map((p) => p.dev))) {
    if (wanted(dev)) continue;
    const programs = current.tcPrograms.filter((p) => p.dev === dev);
    const link = links.get(dev);
    const own = link !== undefined && isFanOwned(link);
    ops.push(detachOp(dev, programs, own ? 'own' : 'shared'));
  }
  for (const n of current.neighbours ?? []) {
    if (wanted(n.dev)?.neighbour === undefined)
      ops.push({ kind: 'neigh-del', dev: n.dev, address: n.address, mac: n.mac });
  }
  return ops;
}

function diffNft(current: CurrentHost, desired: DesiredHost): Op[] {
  if (desired.nat && current.nftForeign) {
    throw new ConfigError(
      `an nftables table "ip ${FAN_NFT_TABLE}" exists that fan did not create; fan will not replace it`,
      `inspect it with nft list table ip ${FAN_NFT_TABLE} and remove or rename it`,
    );
  }
  const nat = desired.nat;
  if (nat && (current.nftKey !== natKey(nat) || !isRenderedTable(current.nftText ?? '', nat, natKey(nat)))) {
    return [{ kind: 'nft-replace', nat: desired.nat, ...was(current.nftText) }];
  }
  return [];
}

function diffForward(current: CurrentHost, desired: DesiredHost): Op[] {
  const ops: Op[] = [];
  const rulesOf = (bridge: string): Op => ({
    kind: 'forward-accept-del',
    bridge,
    rules: (current.forwardRules ?? []).filter((r) => r.bridge === bridge),
  });
  if (!current.iptables) return ops;
  for (const accept of desired.forwardAccept) {
    const present = current.forwardAccept.find((a) => a.bridge === accept.bridge);
    if (present?.from === accept.from) continue;
    // Rules accepting from another device (the fan changed type or underlay) are replaced, not kept.
    if (present) ops.push(rulesOf(accept.bridge));
    ops.push({ kind: 'forward-accept-add', ...accept, chain: current.forwardChain ?? 'FORWARD' });
  }
  return ops;
}

export function diffHost(current: CurrentHost, desired: DesiredHost): Op[] {
  const ops: Op[] = [];
  const links = new Map(current.links.map((l) => [l.name, l]));

  if (desired.bridges.length > 0 && !current.ipForward) {
    ops.push({ kind: 'sysctl', key: 'net.ipv4.ip_forward', value: '1', was: '0' });
  }
  ops.push(...diffBridges(current, desired, links));
  const bridgeNames = desired.bridges.map((b) => b.name);
  for (const device of desired.devices) ops.push(...diffDevice(current, device, links, bridgeNames));
  for (const route of desired.routes) {
    if (current.routes.some((r) => sameRoute(r, route))) continue;
    ops.push({ kind: 'route-replace', route, ...was(current.routes.find((r) => equalCidr(r.dst, route.dst))) });
  }
  ops.push(...diffNft(current, desired), ...diffForward(current, desired));
  for (const dhcp of desired.dhcp) {
    const running = current.dhcp.find((d) => d.bridge === dhcp.bridge);
    // A dnsmasq that outlived its bridge (deleted by hand) is bound to the old device: started again on the new one.
    if (running && running.key === dhcpKey(dhcp) && links.has(dhcp.bridge)) continue;
    if (running)
      ops.push({ kind: 'dhcp-stop', bridge: running.bridge, pid: running.pid, ...spec(running.spec), forget: false });
    ops.push({ kind: 'dhcp-start', dhcp });
  }

  // Removal, inner to outer.
  for (const running of current.dhcp) {
    if (desired.dhcp.some((d) => d.bridge === running.bridge)) continue;
    ops.push({ kind: 'dhcp-stop', bridge: running.bridge, pid: running.pid, ...spec(running.spec), forget: true });
  }
  for (const { bridge } of current.forwardAccept) {
    if (desired.forwardAccept.some((a) => a.bridge === bridge)) continue;
    ops.push({
      kind: 'forward-accept-del',
      bridge,
      rules: (current.forwardRules ?? []).filter((r) => r.bridge === bridge),
    });
  }
  if (!desired.nat && current.nftKey !== undefined) ops.push({ kind: 'nft-delete', was: current.nftText ?? '' });
  for (const route of current.routes) {
    if (!desired.routes.some((r) => equalCidr(r.dst, route.dst))) ops.push({ kind: 'route-del', route });
  }
  ops.push(...removeDevices(current, desired, links));
  for (const link of current.links) {
    if (!isFanOwned(link) || (link.kind !== 'bridge' && link.kind !== 'vxlan')) continue;
    const wanted =
      desired.bridges.some((b) => b.name === link.name) || desired.devices.some((d) => d.link?.name === link.name);
    if (wanted) continue;
    const ports = current.links.filter((l) => l.master === link.name).map((l) => l.name);
    ops.push({ kind: 'link-del', link: linkSpecOf(link), addresses: link.addresses, ports, up: link.up });
  }
  return ops;
}

const spec = (value: DhcpSpec | undefined): { spec?: DhcpSpec } => (value === undefined ? {} : { spec: value });

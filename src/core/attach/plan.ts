/**
 * Container attachments to a fan bridge, as data: which fan, what the veth and the container's addressing look
 * like, whether the fan is ready, and what differs between an attachment and what the kernel shows. Pure: the
 * use cases in src/app/attach.ts read the host, call these, and apply the result through a port.
 */
import { type Cidr, type Ipv4, equalCidr, formatCidr, formatIpv4 } from '../address/ipv4.js';
import { parseOverlay } from '../config/fan-spec.js';
import type { Fan } from '../config/resolve.js';
import { ConfigError, FanError } from '../errors.js';
import type { Lease } from '../ipam/leases.js';
import type { HostFacts, InterfaceFacts, RouteFacts } from '../model/host-facts.js';
import { isFanOwned } from '../model/host-state.js';
import { fanMtu } from '../plan/host-plan.js';
import { type CniAliasFields, cniAlias, hostVethName } from './names.js';

/** Which fan an integration attaches to: by overlay (`250.0.0.0/8` or `250`), by bridge, or the first fan up. */
export interface FanSelector {
  readonly overlay?: string;
  readonly bridge?: string;
}

function describeSelector(selector: FanSelector): string {
  return (
    [
      selector.overlay !== undefined ? `overlay ${selector.overlay}` : '',
      selector.bridge !== undefined ? `bridge ${selector.bridge}` : '',
    ]
      .filter(Boolean)
      .join(' and ') || 'any fan'
  );
}

/** The fan is not up on this host (nothing to attach to yet). */
export class FanNotUpError extends FanError {
  override name = 'FanNotUpError';
  constructor(
    message: string,
    hint: string,
    /** True when the fan is configured (fanctl up ran) but its bridge is gone: existing containers are cut off. */
    readonly damaged: boolean,
  ) {
    super(message, hint);
  }
}

function listFans(fans: readonly Fan[]): string {
  return fans.map((f) => `${formatCidr(f.map.overlay)} on ${f.bridge}`).join(', ');
}

/** Picks the fan among those configured on this host. Throws FanNotUpError or ConfigError. */
export function selectFan(fans: readonly Fan[], selector: FanSelector): Fan {
  const overlay = selector.overlay !== undefined ? parseOverlay(selector.overlay) : undefined;
  const matches = fans.filter(
    (f) =>
      (overlay === undefined || equalCidr(f.map.overlay, overlay)) &&
      (selector.bridge === undefined || f.bridge === selector.bridge),
  );
  const fan = matches[0];
  if (fan) return fan;
  if (fans.length === 0) {
    throw new FanNotUpError(
      `no fan is up on this host (wanted ${describeSelector(selector)})`,
      'bring one up first, e.g. fanctl up -o 250.0.0.0/8 -u <underlay>',
      false,
    );
  }
  if (overlay !== undefined && selector.bridge !== undefined && fans.some((f) => equalCidr(f.map.overlay, overlay))) {
    throw new ConfigError(
      `the fan with overlay ${formatCidr(overlay)} does not use bridge ${selector.bridge}`,
      `fans up here: ${listFans(fans)}; fix "overlay" or "bridge" in the network config`,
    );
  }
  throw new FanNotUpError(
    `no fan with ${describeSelector(selector)} is up on this host`,
    `fans up here: ${listFans(fans)}; bring it up with fanctl up, or name one of these`,
    false,
  );
}

/** Throws FanNotUpError (damaged) unless the fan's bridge exists, is fan's and is up. */
export function requireBridge(fan: Fan, facts: HostFacts): InterfaceFacts {
  const bridge = facts.interfaces.find((i) => i.name === fan.bridge);
  if (!bridge || !isFanOwned(bridge) || !bridge.up) {
    const state = !bridge ? 'is missing' : !isFanOwned(bridge) ? 'is not fan\'s (no "fan:" alias)' : 'is down';
    throw new FanNotUpError(
      `fan ${formatCidr(fan.map.overlay)} is configured but its bridge ${fan.bridge} ${state}`,
      'run fanctl up again to repair it (fanctl show --json tells what is missing)',
      true,
    );
  }
  return bridge;
}

export interface AttachmentRequest {
  /** CNI network name (labels the host veth). */
  readonly network: string;
  readonly containerId: string;
  /** Path of the container's network namespace (/var/run/netns/NAME or /proc/PID/ns/net). */
  readonly netns: string;
  readonly ifname: string;
  /** MTU override; at most the fan's MTU. */
  readonly mtu?: number;
  /** false: on a fast-path fan, no port hook and no accelerator entry (the container takes the bridge). */
  readonly fastPath?: false;
}

export interface AttachmentPlan {
  readonly bridge: string;
  readonly netns: string;
  readonly ifname: string;
  readonly hostIf: string;
  readonly alias: string;
  readonly mtu: number;
  /** The container's address with the slice prefix. */
  readonly address: Cidr;
  readonly gateway: Ipv4;
}

/** IFALIASZ is 256 bytes with the terminating NUL. */
const MAX_ALIAS = 255;

export function attachmentMtu(fan: Fan, override: number | undefined): number {
  const max = fanMtu(fan);
  if (override === undefined) return max;
  if (!Number.isInteger(override) || override < 68 || override > max) {
    throw new ConfigError(
      `mtu ${override} is not usable on ${fan.bridge}`,
      `use 68 to ${max} (the fan's MTU: underlay MTU ${fan.deviceMtu} minus the VXLAN overhead), or leave "mtu" out`,
    );
  }
  return override;
}

export function planAttachment(fan: Fan, lease: Pick<Lease, 'address'>, req: AttachmentRequest): AttachmentPlan {
  const fields: CniAliasFields = { network: req.network, containerId: req.containerId, ifname: req.ifname };
  const alias = cniAlias(fields);
  if (alias.length > MAX_ALIAS) {
    throw new ConfigError(
      `network name and container id are too long to label the host interface ` +
        `(${alias.length} > ${MAX_ALIAS} characters)`,
      'use a shorter network name',
    );
  }
  return {
    bridge: fan.bridge,
    netns: req.netns,
    ifname: req.ifname,
    hostIf: hostVethName(req.containerId, req.ifname),
    alias,
    mtu: attachmentMtu(fan, req.mtu),
    address: { address: lease.address, prefix: fan.host.slice.prefix },
    gateway: fan.host.gateway,
  };
}

/** What CHECK compares: the attachment as the runtime recorded it. */
export interface ExpectedAttachment {
  readonly bridge: string;
  readonly ifname: string;
  readonly hostIf: string;
  readonly addresses: readonly Cidr[];
  readonly gateway?: Ipv4;
  readonly mtu?: number;
}

/** What the kernel shows for an attachment. */
export interface ObservedAttachment {
  readonly container?: InterfaceFacts;
  readonly containerRoutes: readonly RouteFacts[];
  readonly host?: InterfaceFacts;
  /** The IPAM's lease for the attachment, if any. */
  readonly lease?: Pick<Lease, 'address'>;
}

/** Every difference between what ADD set up and what is there; empty when they agree. */
export function attachmentProblems(expected: ExpectedAttachment, observed: ObservedAttachment): string[] {
  const problems: string[] = [];
  const c = observed.container;
  if (!c) {
    problems.push(`interface ${expected.ifname} is missing in the container`);
  } else {
    if (!c.up) problems.push(`interface ${expected.ifname} is down`);
    for (const a of expected.addresses) {
      if (!c.addresses.some((x) => equalCidr(x, a)))
        problems.push(
          `address ${formatCidr(a)} is missing on ${expected.ifname} ` +
            `(has ${c.addresses.map(formatCidr).join(', ') || 'none'})`,
        );
    }
    if (expected.mtu !== undefined && c.mtu !== expected.mtu)
      problems.push(`${expected.ifname} has MTU ${c.mtu}, expected ${expected.mtu}`);
  }
  if (expected.gateway !== undefined) {
    const gw = expected.gateway;
    if (
      !observed.containerRoutes.some(
        (r) => r.dst.prefix === 0 && r.gateway === gw && (r.table === undefined || r.table === 'main'),
      )
    ) {
      problems.push(`the container has no default route via ${formatIpv4(gw)}`);
    }
  }
  const h = observed.host;
  if (!h) problems.push(`host interface ${expected.hostIf} is missing`);
  else {
    if (h.master !== expected.bridge)
      problems.push(
        `host interface ${expected.hostIf} is ${h.master ? `on ${h.master}` : 'on no bridge'}, ` +
          `expected ${expected.bridge}`,
      );
    if (!h.up) problems.push(`host interface ${expected.hostIf} is down`);
  }
  const lease = observed.lease;
  if (!lease) problems.push('the IPAM holds no lease for this attachment');
  else if (!expected.addresses.some((a) => a.address === lease.address)) {
    problems.push(
      `the IPAM leased ${formatIpv4(lease.address)}, ` +
        `but the attachment has ${expected.addresses.map(formatCidr).join(', ')}`,
    );
  }
  return problems;
}

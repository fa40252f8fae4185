/**
 * The `fan` CNI plugin's verbs: each opens with the parsed configuration (the dispatcher parses it), picks the fan,
 * and calls the attachment use cases of src/app/attach.ts. This file only translates between CNI and those.
 *
 * - ADD: veth into CNI_NETNS named CNI_IFNAME, host end `fanXXXXXXXX` on the fan bridge, address from this host's
 *   slice, default route via the bridge, fan MTU. Result: [host veth, container interface], one IP, one route.
 * - DEL: removes the host veth and releases the address; anything already gone is fine.
 * - CHECK: compares prevResult with the container, the host veth and the IPAM.
 * - STATUS: 50 when the fan is not up (or has no addresses to give), 51 when it is configured but its bridge is gone.
 * - GC: releases leases and deletes host veths of this network not in `cni.dev/valid-attachments`.
 */
import { type Cidr, type Ipv4, formatCidr, formatIpv4, parseCidr, parseIpv4 } from '../core/address/ipv4.js';
import type { Fan } from '../core/config/resolve.js';
import { FanNotUpError, requireBridge, selectFan } from '../core/attach/plan.js';
import { errorMessage } from '../core/errors.js';
import { poolOf, poolSize } from '../core/ipam/pool.js';
import { type Attachment, attach, collect, detach, verify } from '../app/attach.js';
import type { FanView } from '../app/fans.js';
import type { LeaseStore } from '../ports/leases.js';
import type { SandboxLinks } from '../ports/sandbox.js';
import type { PortBinder } from '../ports/bindings.js';
import type { AttachmentContext, CniPlugin, SandboxContext } from './dispatcher.js';
import type { NetConf, PrevResult } from './netconf.js';
import { CNI_CODES, CniError, type CniInterface, type CniResult } from './protocol.js';

export interface CniDeps {
  /** The fans configured on this host and the host snapshot. */
  readonly fans: () => Promise<FanView>;
  /** The lease store of a fan that is up (allocates). */
  readonly leases: (fan: Fan) => LeaseStore;
  /** Every lease store on this host, whether its fan is up or not (DEL and GC release from all of them). */
  readonly allLeaseStores: () => Promise<LeaseStore[]>;
  readonly links: SandboxLinks;
  readonly log: (line: string) => void;
  /** Policy groups (optional): the lease store narrowed to the group the call asks for, or undefined for none. */
  readonly groupLeases?: (
    fan: Fan,
    request: { readonly group?: string; readonly k8sNamespace?: string },
  ) => Promise<LeaseStore | undefined>;
  /** Port binding: the host veth may send only with the MAC and address it was given (always on). */
  readonly bindings: PortBinder;
}

async function chooseFan(deps: CniDeps, conf: NetConf): Promise<Fan> {
  const view = await deps.fans();
  const fan = selectFan(view.fans, {
    ...(conf.overlay !== undefined ? { overlay: conf.overlay } : {}),
    ...(conf.bridge !== undefined ? { bridge: conf.bridge } : {}),
  });
  requireBridge(fan, view.facts);
  return fan;
}

/** Our result appended to a previous plugin's, if there was one (SPEC: plugins must handle prevResult). */
export function addResult(ctx: SandboxContext, a: Attachment, prev: PrevResult | undefined): CniResult {
  const before = prev?.interfaces ?? [];
  const host: CniInterface = { name: a.plan.hostIf, ...(a.host.mac ? { mac: a.host.mac } : {}), mtu: a.host.mtu };
  const container: CniInterface = {
    name: a.plan.ifname,
    ...(a.container.mac ? { mac: a.container.mac } : {}),
    mtu: a.container.mtu,
    sandbox: ctx.netns,
  };
  const gateway = formatIpv4(a.plan.gateway);
  return {
    interfaces: [...before, host, container],
    ips: [...(prev?.ips ?? []), { address: formatCidr(a.plan.address), gateway, interface: before.length + 1 }],
    routes: [...(prev?.routes ?? []), { dst: '0.0.0.0/0', gw: gateway }],
    dns: prev?.dns ?? {},
  };
}

/** The container interface, its addresses and gateway as ADD reported them. */
export function expectedFromPrevResult(
  prev: PrevResult,
  ifname: string,
): { addresses: Cidr[]; gateway?: Ipv4; mtu?: number } {
  const index = prev.interfaces.findIndex((i) => i.name === ifname && i.sandbox !== undefined);
  if (index < 0) {
    throw new CniError(
      CNI_CODES.invalidConfig,
      `prevResult has no container interface named ${ifname}`,
      'pass the result of the ADD for this container and CNI_IFNAME',
    );
  }
  const parse = <T>(what: string, text: string, fn: (t: string) => T): T => {
    try {
      return fn(text);
    } catch (error) {
      throw new CniError(
        CNI_CODES.decodingFailure,
        `prevResult ${what} "${text}" is malformed: ${errorMessage(error)}`,
        'pass the result of the ADD unchanged',
      );
    }
  };
  const ips = prev.ips.filter((ip) => ip.interface === index && !ip.address.includes(':'));
  const addresses = ips.map((ip) => parse('address', ip.address, parseCidr));
  const gwText =
    ips.find((ip) => ip.gateway !== undefined)?.gateway ?? prev.routes.find((r) => r.dst === '0.0.0.0/0')?.gw;
  const mtu = prev.interfaces[index]?.mtu;
  return {
    addresses,
    ...(gwText !== undefined ? { gateway: parse('gateway', gwText, parseIpv4) } : {}),
    ...(mtu !== undefined ? { mtu } : {}),
  };
}

export function fanCniPlugin(deps: CniDeps): CniPlugin {
  return {
    async add(ctx: SandboxContext): Promise<CniResult> {
      const fan = await chooseFan(deps, ctx.conf);
      const grouped = await deps.groupLeases?.(fan, {
        ...(ctx.conf.group !== undefined ? { group: ctx.conf.group } : {}),
        ...(ctx.conf.k8sNamespace !== undefined ? { k8sNamespace: ctx.conf.k8sNamespace } : {}),
      });
      const a = await attach(
        fan,
        grouped ?? deps.leases(fan),
        {
          network: ctx.conf.name,
          containerId: ctx.containerId,
          netns: ctx.netns,
          ifname: ctx.ifname,
          ...(ctx.conf.mtu !== undefined ? { mtu: ctx.conf.mtu } : {}),
          ...(ctx.conf.fastPath === false ? { fastPath: false as const } : {}),
          ...(ctx.conf.requestedIp !== undefined ? { request: ctx.conf.requestedIp } : {}),
          ...(ctx.conf.pod ? { pod: ctx.conf.pod } : {}),
        },
        deps,
      );
      return addResult(ctx, a, ctx.conf.prevResult);
    },

    async del(ctx: AttachmentContext): Promise<void> {
      // No fan lookup: the host veth's name and the lease's key follow from the container id and interface name,
      // so DEL works when the fan, the namespace or the runtime's cached result are gone.
      await detach(
        await deps.allLeaseStores(),
        { network: ctx.conf.name, containerId: ctx.containerId, ifname: ctx.ifname },
        deps,
      );
    },

    async check(ctx: SandboxContext): Promise<void> {
      const prev = ctx.conf.prevResult;
      if (!prev)
        throw new CniError(
          CNI_CODES.invalidConfig,
          'CHECK needs prevResult',
          'pass the result of the ADD in "prevResult", as libcni does',
        );
      const fan = await chooseFan(deps, ctx.conf);
      const expected = expectedFromPrevResult(prev, ctx.ifname);
      await verify(
        deps.leases(fan),
        { network: ctx.conf.name, containerId: ctx.containerId, ifname: ctx.ifname, netns: ctx.netns },
        { bridge: fan.bridge, ...expected },
        deps,
      );
    },

    async status(conf: NetConf): Promise<void> {
      let fan: Fan;
      try {
        fan = await chooseFan(deps, conf);
      } catch (error) {
        if (error instanceof FanNotUpError) {
          throw new CniError(
            error.damaged ? CNI_CODES.notAvailableDamaged : CNI_CODES.notAvailable,
            error.message,
            error.hint,
          );
        }
        throw error;
      }
      if (poolSize(poolOf(fan)) === 0) {
        throw new CniError(
          CNI_CODES.notAvailable,
          `fan ${formatCidr(fan.map.overlay)} has no addresses for containers: its DHCP range covers the whole slice`,
          'give DHCP only a share of the slice (fanctl up … --dhcp, ' +
            'or --dhcp-range N for the last N addresses), or bring the fan up without dhcp',
        );
      }
    },

    async gc(conf: NetConf): Promise<void> {
      if (conf.validAttachments === undefined) {
        throw new CniError(
          CNI_CODES.invalidConfig,
          'GC needs "cni.dev/valid-attachments"',
          'pass the attachments to keep (an empty list removes every attachment of this network)',
        );
      }
      const report = await collect(await deps.allLeaseStores(), conf.name, conf.validAttachments, deps);
      for (const l of report.releasedLeases)
        deps.log(`gc: released ${formatIpv4(l.address)} of ${l.owner} (${l.ifname})`);
      for (const name of report.deletedLinks) deps.log(`gc: deleted ${name}`);
    },
  };
}

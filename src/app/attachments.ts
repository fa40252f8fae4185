/**
 * The attachments of this host's fan bridges (`fanctl attachments`, and the per-fan view of `fanctl status`):
 * address, host and container interface, runtime (cni, docker, dhcp), container id and Kubernetes pod, joined by
 * src/core/attach/attachments.ts from the lease tables, the bridges' ports and dnsmasq's lease files. Read-only.
 */
import { parseDnsmasqLeases } from '../codec/dnsmasq-leases.js';
import { type AttachmentRow, bridgeAttachments } from '../core/attach/attachments.js';
import { formatCidr } from '../core/address/ipv4.js';
import type { HostFacts } from '../core/model/host-facts.js';
import type { HostReader, TextFiles } from '../ports/host.js';
import { leaseBridges, openLeaseStoreByBridge } from '../store/lease-file.js';
import { readFanView } from './fans.js';

export interface AttachmentsDeps {
  readonly host: HostReader;
  readonly files: TextFiles;
  readonly stateDir: string;
}

export interface BridgeAttachments {
  readonly bridge: string;
  /** The fan's overlay, when the fan is up. */
  readonly overlay?: string;
  readonly up: boolean;
  readonly attachments: readonly AttachmentRow[];
}

/** dnsmasq's lease file of a fan bridge (where `fanctl up --dhcp` points dnsmasq). */
export function dhcpLeaseFile(stateDir: string, bridge: string): string {
  return `${stateDir}/${bridge}.leases`;
}

/** One bridge's attachments, given a host snapshot (so a caller listing several bridges reads the kernel once). */
export async function readBridgeAttachments(
  deps: Omit<AttachmentsDeps, 'host'>,
  bridge: string,
  facts: HostFacts,
): Promise<AttachmentRow[]> {
  const [leases, dhcp] = await Promise.all([
    openLeaseStoreByBridge(deps.stateDir, bridge).list(),
    deps.files.read(dhcpLeaseFile(deps.stateDir, bridge)),
  ]);
  return bridgeAttachments({
    bridge,
    leases,
    interfaces: facts.interfaces,
    dhcpLeases: dhcp === undefined ? [] : parseDnsmasqLeases(dhcp),
  });
}

/** Every fan bridge that is up or has a lease table, or only `bridge`. */
export async function listAttachments(
  deps: AttachmentsDeps,
  options: { readonly bridge?: string } = {},
): Promise<BridgeAttachments[]> {
  const view = await readFanView(deps);
  const overlays = new Map(view.fans.map((f) => [f.bridge, formatCidr(f.map.overlay)] as const));
  const bridges = [...new Set([...overlays.keys(), ...(await leaseBridges(deps.stateDir))])]
    .filter((b) => options.bridge === undefined || b === options.bridge)
    .sort();
  const result: BridgeAttachments[] = [];
  for (const bridge of bridges) {
    const overlay = overlays.get(bridge);
    result.push({
      bridge,
      ...(overlay !== undefined ? { overlay } : {}),
      up: overlay !== undefined,
      attachments: await readBridgeAttachments(deps, bridge, view.facts),
    });
  }
  return result;
}

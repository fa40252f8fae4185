/**
 * A second fan brought up on two lab hosts for the bench, with one container each: the data plane the lab does not
 * run by default (host-gw in a vxlan lab, vxlan in a host-gw lab), so both are measured side by side in one run.
 * Brought up and down with the real fanctl; its containers are `<lab>-<host>-x` namespaces.
 */
import { root } from './shell.js';
import { formatCidr, network, u32 } from '../core/address/ipv4.js';
import type { DataplaneType } from '../core/config/fan-spec.js';
import { bridgeNameOf, defineFan, describeHost } from '../core/mapping/fan.js';
import { fanMtu } from '../backends/registry.js';
import { layoutOf } from '../core/mapping/layout.js';
import { attachContainer, fanctl } from './lab.js';
import type { LabContainer, LabHost, LabTopology } from './topology.js';

/** Class E, and not one of the lab's default overlays. */
const EXTRA_OVERLAY = { address: 0xf9000000, prefix: 8 }; // 249.0.0.0/8

export interface ExtraFan {
  readonly type: DataplaneType;
  readonly containers: readonly LabContainer[];
}

export async function addExtraFan(topo: LabTopology, hosts: readonly LabHost[]): Promise<ExtraFan> {
  const type: DataplaneType = topo.options.type === 'vxlan' ? 'host-gw' : 'vxlan';
  const containers: LabContainer[] = [];
  for (const host of hosts) {
    const underlay = network(host.underlay);
    await fanctl(host, ['up', '-o', formatCidr(EXTRA_OVERLAY), '-u', formatCidr(underlay), '--type', type]);
    const slice = describeHost(defineFan(EXTRA_OVERLAY, underlay), host.underlay.address);
    const container: LabContainer = {
      ns: `${topo.prefix}-${host.name}-x`,
      name: `${host.name}-x`,
      hostIf: 'cx',
      overlay: formatCidr(EXTRA_OVERLAY),
      bridge: bridgeNameOf(EXTRA_OVERLAY),
      address:
        layoutOf({ slice: slice.slice, hostReserve: 1, dhcp: false }).ipam[0]?.start ?? u32(slice.slice.address + 2),
      prefix: slice.slice.prefix,
      gateway: slice.gateway,
      mtu: fanMtu({ type, deviceMtu: topo.options.underlayMtu }),
    };
    await root.run(['ip', 'netns', 'add', container.ns]);
    await root.run(['ip', '-n', container.ns, 'link', 'set', 'lo', 'up']);
    await attachContainer({ ...topo, options: { ...topo.options, dhcp: false } }, host, container);
    containers.push(container);
  }
  return { type, containers };
}

export async function removeExtraFan(topo: LabTopology, hosts: readonly LabHost[]): Promise<void> {
  for (const host of hosts) {
    await fanctl(host, ['down', '-o', formatCidr(EXTRA_OVERLAY), '--force'], { allowFailure: true });
    await root.run(['ip', 'netns', 'del', `${topo.prefix}-${host.name}-x`], { allowFailure: true });
  }
}

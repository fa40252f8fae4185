/**
 * More fans brought up on two lab hosts for the bench, one per data-plane backend the lab does not run by
 * default (every other type of the registry), each with its own overlay and one container per host, so every
 * backend is measured side by side in one run. Brought up and down with the real fanctl; their containers are
 * `<lab>-<host>-x<N>` namespaces.
 */
import { root } from './shell.js';
import { type Cidr, formatCidr, network, u32 } from '../core/address/ipv4.js';
import type { DataplaneType } from '../core/config/fan-spec.js';
import { bridgeNameOf, defineFan, describeHost } from '../core/mapping/fan.js';
import { ALL_BACKENDS, fanMtu } from '../backends/registry.js';
import { layoutOf } from '../core/mapping/layout.js';
import { attachContainer, fanctl } from './lab.js';
import type { LabContainer, LabHost, LabTopology } from './topology.js';

/** Class E overlays below the lab's defaults (250, 251): 249.0.0.0/8 for the first extra fan, 248 … */
const extraOverlay = (n: number): Cidr => ({ address: u32((249 - n) * 2 ** 24), prefix: 8 });

export interface ExtraFan {
  readonly type: DataplaneType;
  readonly overlay: string;
  readonly containers: readonly LabContainer[];
}

/** The backend types of the registry other than the lab's own, in registry order. */
export function extraTypes(topo: LabTopology): DataplaneType[] {
  return ALL_BACKENDS.map((b) => b.type as DataplaneType).filter((t) => t !== topo.options.type);
}

export async function addExtraFan(
  topo: LabTopology,
  hosts: readonly LabHost[],
  type: DataplaneType,
  n = 0,
): Promise<ExtraFan> {
  const overlay = extraOverlay(n);
  const containers: LabContainer[] = [];
  for (const host of hosts) {
    const underlay = network(host.underlay);
    await fanctl(host, ['up', '-o', formatCidr(overlay), '-u', formatCidr(underlay), '--type', type]);
    const slice = describeHost(defineFan(overlay, underlay), host.underlay.address);
    const container: LabContainer = {
      ns: `${topo.prefix}-${host.name}-x${n + 1}`,
      name: `${host.name}-x${n + 1}`,
      hostIf: `cx${n + 1}`,
      overlay: formatCidr(overlay),
      bridge: bridgeNameOf(overlay),
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
  return { type, overlay: formatCidr(overlay), containers };
}

export async function removeExtraFan(topo: LabTopology, hosts: readonly LabHost[], n = 0): Promise<void> {
  for (const host of hosts) {
    await fanctl(host, ['down', '-o', formatCidr(extraOverlay(n)), '--force'], { allowFailure: true });
    await root.run(['ip', 'netns', 'del', `${topo.prefix}-${host.name}-x${n + 1}`], { allowFailure: true });
  }
}

/**
 * The reference approach the bench compares against: flannel's vxlan backend, built by hand between two lab
 * hosts. Per peer it keeps a route, a neighbour entry and an fdb entry (the state fan avoids); its containers sit
 * on their own bridge with their own /24 per host. All objects are named `ref*` inside lab namespaces.
 */
import { createLabVeth, root } from './shell.js';
import { type Ipv4, formatIpv4 } from '../core/address/ipv4.js';
import { VXLAN_OVERHEAD } from '../backends/vxlan/backend.js';
import type { LabHost, LabTopology } from './topology.js';

const REF_PORT = '4789';
const REF_VNI = '1';

export interface ReferenceContainer {
  readonly ns: string;
  readonly name: string;
  readonly address: string;
}

const mac = (underlay: Ipv4): string =>
  ['0e', 'fb', ...[24, 16, 8, 0].map((s) => ((underlay >>> s) & 255).toString(16).padStart(2, '0'))].join(':');

/** Builds the flannel-style network on hosts[0..1] and returns one container on each. */
export async function buildReference(topo: LabTopology, hosts: readonly LabHost[]): Promise<ReferenceContainer[]> {
  const mtu = String(topo.options.underlayMtu - VXLAN_OVERHEAD);
  const subnet = (i: number): string => `10.99.${i + 1}`;
  const containers: ReferenceContainer[] = [];
  for (const [i, host] of hosts.entries()) {
    const ip = (argv: string[]): Promise<unknown> => root.run(['ip', '-n', host.ns, ...argv]);
    await ip([
      'link',
      'add',
      'refvx',
      'address',
      mac(host.underlay.address),
      'mtu',
      mtu,
      'type',
      'vxlan',
      'id',
      REF_VNI,
      'dstport',
      REF_PORT,
      'local',
      formatIpv4(host.underlay.address),
      'nolearning',
    ]);
    await ip(['address', 'add', `${subnet(i)}.0/32`, 'dev', 'refvx']);
    await ip(['link', 'set', 'refvx', 'up']);
    await ip(['link', 'add', 'refbr', 'mtu', mtu, 'type', 'bridge']);
    await ip(['address', 'add', `${subnet(i)}.1/24`, 'dev', 'refbr']);
    await ip(['link', 'set', 'refbr', 'up']);
    const ns = `${topo.prefix}-${host.name}-ref`;
    await root.run(['ip', 'netns', 'add', ns]);
    await createLabVeth({ name: 'eth0', ns }, { name: 'refc', ns: host.ns }, Number(mtu));
    await ip(['link', 'set', 'refc', 'master', 'refbr', 'up']);
    await root.run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    await root.run(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    await root.run(['ip', '-n', ns, 'address', 'add', `${subnet(i)}.2/24`, 'dev', 'eth0']);
    await root.run(['ip', '-n', ns, 'route', 'add', 'default', 'via', `${subnet(i)}.1`]);
    containers.push({ ns, name: `${host.name}-ref`, address: `${subnet(i)}.2` });
  }
  // Per-peer state, as flannel's vxlan backend installs it for every other node.
  for (const [i, host] of hosts.entries()) {
    for (const [j, peer] of hosts.entries()) {
      if (i === j) continue;
      const ip = (argv: string[]): Promise<unknown> => root.run(['ip', '-n', host.ns, ...argv]);
      await ip(['route', 'add', `${subnet(j)}.0/24`, 'via', `${subnet(j)}.0`, 'dev', 'refvx', 'onlink']);
      await ip([
        'neigh',
        'add',
        `${subnet(j)}.0`,
        'lladdr',
        mac(peer.underlay.address),
        'dev',
        'refvx',
        'nud',
        'permanent',
      ]);
      await root.run([
        'bridge',
        '-n',
        host.ns,
        'fdb',
        'append',
        mac(peer.underlay.address),
        'dev',
        'refvx',
        'dst',
        formatIpv4(peer.underlay.address),
      ]);
    }
  }
  return containers;
}

export async function removeReference(topo: LabTopology, hosts: readonly LabHost[]): Promise<void> {
  for (const host of hosts) {
    await root.run(['ip', '-n', host.ns, 'link', 'del', 'refvx'], { allowFailure: true });
    await root.run(['ip', '-n', host.ns, 'link', 'del', 'refbr'], { allowFailure: true });
    await root.run(['ip', 'netns', 'del', `${topo.prefix}-${host.name}-ref`], { allowFailure: true });
  }
}

/**
 * The lab's layout, computed before anything is created: namespace and interface names (all under one prefix),
 * underlay addresses, and each container's fan and address. Pure.
 */
import { type Cidr, type Ipv4, formatCidr, formatIpv4, network, parseCidr, u32 } from '../core/address/ipv4.js';
import { type DataplaneType, parseOverlay } from '../core/config/fan-spec.js';
import { ConfigError } from '../core/errors.js';
import { bridgeNameOf, defineFan, describeHost } from '../core/mapping/fan.js';
import { fanMtu } from '../backends/registry.js';
import { layoutOf, rangeSize } from '../core/mapping/layout.js';

export interface LabOptions {
  readonly name: string;
  readonly hosts: number;
  readonly containers: number;
  readonly overlays: readonly string[];
  readonly underlay: string;
  readonly dhcp: boolean;
  /** Data plane of every fan in the lab. */
  readonly type: DataplaneType;
  /** MTU of the simulated underlay links. */
  readonly underlayMtu: number;
  /** Policy groups `NAME=FIRST-LAST` (`--group`): containers take turns, each with an address of its group. */
  readonly groups?: readonly string[];
}

export const DEFAULT_LAB: LabOptions = {
  name: 'fanlab',
  hosts: 3,
  containers: 2,
  overlays: ['250.0.0.0/8'],
  underlay: '172.16.0.0/16',
  dhcp: false,
  type: 'vxlan',
  underlayMtu: 1500,
};

/** The "outside" network: a documentation range (RFC 5737), only ever inside the lab's namespaces. */
export const OUTSIDE: Cidr = { address: 0xcb007101, prefix: 24 }; // 203.0.113.1/24

export interface LabContainer {
  readonly ns: string;
  readonly name: string;
  /** Interface name of its veth end on the host. */
  readonly hostIf: string;
  readonly overlay: string;
  readonly bridge: string;
  /** Static address (also the one expected from DHCP's first leases, not guaranteed). */
  readonly address: Ipv4;
  readonly prefix: number;
  readonly gateway: Ipv4;
  readonly mtu: number;
  /** Its policy group, with `--group`. */
  readonly group?: string;
}

export interface LabHost {
  readonly ns: string;
  readonly name: string;
  readonly underlay: Cidr;
  /** Interface name of its veth end on the switch. */
  readonly switchIf: string;
  readonly stateDir: string;
  readonly containers: readonly LabContainer[];
}

export interface LabTopology {
  readonly options: LabOptions;
  readonly prefix: string;
  readonly switchNs: string;
  readonly outsideNs: string;
  readonly outside: Cidr;
  readonly hosts: readonly LabHost[];
  readonly stateDir: string;
}

const NAME = /^[a-z][a-z0-9]{0,11}$/;

export function labTopology(options: LabOptions, stateRoot = '/run/fanlab'): LabTopology {
  if (!NAME.test(options.name))
    throw new ConfigError(
      `lab name "${options.name}" is invalid`,
      'use 1-12 lowercase letters and digits, starting with a letter',
    );
  if (!Number.isInteger(options.hosts) || options.hosts < 1 || options.hosts > 200)
    throw new ConfigError(`--hosts ${options.hosts} is out of range`, 'use 1 to 200 hosts');
  if (!Number.isInteger(options.containers) || options.containers < 0 || options.containers > 50)
    throw new ConfigError(`--containers ${options.containers} is out of range`, 'use 0 to 50 containers per host');
  if (options.overlays.length === 0) throw new ConfigError('the lab needs at least one overlay', 'pass -o 250.0.0.0/8');
  const underlay = network(parseCidr(options.underlay));
  if (2 ** (32 - underlay.prefix) < options.hosts + 12)
    throw new ConfigError(
      `underlay ${formatCidr(underlay)} is too small for ${options.hosts} hosts`,
      'use a wider underlay, e.g. 172.16.0.0/16',
    );
  const maps = options.overlays.map((o) => defineFan(parseOverlay(o), underlay));
  const groups = (options.groups ?? []).map(parseLabGroup);
  const prefix = options.name;
  const stateDir = `${stateRoot}/${prefix}`;
  const hosts = Array.from({ length: options.hosts }, (_, h): LabHost => {
    const address = u32(underlay.address + 10 + h + 1);
    const name = `h${h + 1}`;
    return {
      ns: `${prefix}-${name}`,
      name,
      underlay: { address, prefix: underlay.prefix },
      switchIf: `${name}`,
      stateDir: `${stateDir}/${name}`,
      containers: Array.from({ length: options.containers }, (_, c): LabContainer => {
        const fanIndex = c % maps.length;
        const map = maps[fanIndex];
        if (!map) throw new ConfigError('internal: no overlay');
        const slice = describeHost(map, address);
        const perFan = Math.floor(c / maps.length);
        // The lab's fans use host-reserve 1; with DHCP the first leases come from the DHCP share.
        const layout = layoutOf({ slice: slice.slice, hostReserve: 1, dhcp: options.dhcp });
        const share = options.dhcp ? layout.dhcp : layout.ipam[0];
        const first = share?.start ?? 0;
        if (share === undefined || perFan >= rangeSize(share))
          throw new ConfigError(
            `slice ${formatCidr(slice.slice)} has no room for ${options.containers} containers`,
            'use fewer containers or a wider slice',
          );
        const group = groups[c % Math.max(groups.length, 1)];
        if (group) {
          const k = Math.floor(c / groups.length);
          if (group.first + k > group.last)
            throw new ConfigError(
              `group ${group.name} (indexes ${group.first}-${group.last}) has no room for container ${c + 1}`,
              'widen the group range or use fewer containers',
            );
        }
        // With groups, the k-th container of a group gets the group's k-th index.
        const containerAddress = group
          ? u32(slice.slice.address + group.first + Math.floor(c / groups.length))
          : u32(first + perFan);
        return {
          ns: `${prefix}-${name}-c${c + 1}`,
          name: `${name}-c${c + 1}`,
          hostIf: `c${c + 1}`,
          overlay: formatCidr(map.overlay),
          bridge: bridgeNameOf(map.overlay),
          address: containerAddress,
          prefix: slice.slice.prefix,
          gateway: slice.gateway,
          mtu: fanMtu({ type: options.type, deviceMtu: options.underlayMtu }),
          ...(group ? { group: group.name } : {}),
        };
      }),
    };
  });
  return { options, prefix, switchNs: `${prefix}-sw`, outsideNs: `${prefix}-out`, outside: OUTSIDE, hosts, stateDir };
}

export function describeContainer(c: LabContainer): string {
  return `${c.name} ${formatIpv4(c.address)}/${c.prefix} (${c.overlay}${c.group ? `, group ${c.group}` : ''})`;
}

/** `web=10-19`: a lab group and its container indexes. */
export function parseLabGroup(text: string): { readonly name: string; readonly first: number; readonly last: number } {
  const m = /^([a-z][a-z0-9_-]{0,30})=(\d{1,5})-(\d{1,5})$/.exec(text);
  const first = Number(m?.[2]);
  const last = Number(m?.[3]);
  if (!m || m[1] === undefined || first < 2 || first > last)
    throw new ConfigError(
      `--group "${text}" is not NAME=FIRST-LAST`,
      'e.g. --group web=10-19 --group db=20-29 (indexes above the host reserve)',
    );
  return { name: m[1], first, last };
}

/** The policy file of a lab with `--group`: its groups, isolated from one another, each free to reach the outside. */
export function labPolicy(options: LabOptions): string | undefined {
  const groups = (options.groups ?? []).map(parseLabGroup);
  if (groups.length === 0) return undefined;
  return (
    `default: isolate\ngroups:\n` +
    `${groups.map((g) => `  ${g.name}: { index: ${g.first}-${g.last} }`).join('\n')}\n` +
    `allow:\n  - { from: any, to: outside }\n`
  );
}

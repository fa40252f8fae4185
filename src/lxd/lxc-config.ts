/**
 * `fanctl lxc-config`: the network lines of a plain LXC container's config (`lxc.net.0.*`) that put it on a fan
 * bridge. With a static address (a lease of the shared IPAM, owned `lxc:NAME`), LXC configures it before the
 * container's init runs; otherwise the container asks the fan's dnsmasq (its DHCP share). The MTU is set by LXC,
 * because busybox's DHCP client does not apply the DHCP MTU option. Pure.
 */
import { type Ipv4, formatCidr, formatIpv4 } from '../core/address/ipv4.js';
import type { Fan } from '../core/config/resolve.js';
import { ConfigError } from '../core/errors.js';
import { formatRange, sliceLayout } from '../core/mapping/layout.js';
import { fanMtu } from '../core/plan/host-plan.js';

export interface LxcNetConfig {
  readonly bridge: string;
  readonly overlay: string;
  readonly mtu: number;
  /** `250.3.4.2/24` for a static address; absent with DHCP. */
  readonly address?: string;
  readonly gateway?: string;
  /** `lxc.net.0.type` … as [key, value] pairs, in the order they are printed. */
  readonly entries: readonly (readonly [string, string])[];
  readonly warnings: readonly string[];
}

/** An LXC container name as lease owner: what lxc-create accepts, without "/" or white space. */
const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function lxcOwner(name: string): string {
  if (!CONTAINER_NAME.test(name))
    throw new ConfigError(
      `"${name}" is not an LXC container name`,
      'use letters, digits, "_", "." and "-", starting with a letter or digit',
    );
  return `lxc:${name}`;
}

export const LXC_LEASE_IFNAME = 'eth0';

export function lxcNetConfig(fan: Fan, staticAddress?: Ipv4, index = 0): LxcNetConfig {
  const layout = sliceLayout(fan);
  const mtu = fanMtu(fan);
  const key = (k: string): string => `lxc.net.${index}.${k}`;
  const entries: [string, string][] = [
    [key('type'), 'veth'],
    [key('link'), fan.bridge],
    [key('flags'), 'up'],
    [key('name'), 'eth0'],
    [key('mtu'), String(mtu)],
  ];
  const warnings: string[] = [];
  let address: string | undefined;
  let gateway: string | undefined;
  if (staticAddress !== undefined) {
    address = `${formatIpv4(staticAddress)}/${fan.host.slice.prefix}`;
    gateway = formatIpv4(fan.host.gateway);
    entries.push([key('ipv4.address'), address], [key('ipv4.gateway'), gateway]);
  } else if (!layout.dhcp) {
    warnings.push(
      `fan ${formatCidr(fan.map.overlay)} serves no DHCP: the container gets no address. ` +
        "Pass --static NAME for an address from fan's IPAM, or bring the fan up with --dhcp.",
    );
  }
  return {
    bridge: fan.bridge,
    overlay: formatCidr(fan.map.overlay),
    mtu,
    ...(address === undefined ? {} : { address }),
    ...(gateway === undefined ? {} : { gateway }),
    entries,
    warnings,
  };
}

/** The lines, preceded by a comment that says where the address comes from: appendable to an LXC config file. */
export function renderLxcConfig(config: LxcNetConfig, fan: Fan): string {
  const layout = sliceLayout(fan);
  const source =
    config.address !== undefined
      ? `static ${config.address} from fan's IPAM (release it with fanctl lxc-config --release NAME)`
      : layout.dhcp
        ? `DHCP from the fan's dnsmasq (${formatRange(layout.dhcp)})`
        : 'none (see the warning)';
  return [
    `# fan ${config.overlay} on ${config.bridge}, MTU ${config.mtu}; address: ${source}`,
    ...config.entries.map(([k, v]) => `${k} = ${v}`),
    '',
  ].join('\n');
}

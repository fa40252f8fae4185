/**
 * `fanctl docker-config`: the alternative to the fan plugin that needs nothing but Docker, its bridge driver on
 * the fan bridge. Pure: renders the `docker network create` command (argv and text) and the notes an operator
 * needs, with Docker's quirks handled (each checked against dockerd 20.10 in test/e2e/docker.test.ts):
 *
 * - Docker sets the bridge's IPv4 address to the network's gateway: `--gateway` is the fan bridge's own address,
 *   and `com.docker.network.bridge.inhibit_ipv4=true` keeps Docker's hands off the bridge's addresses.
 * - Docker hands out the range from its start, skipping only the gateway: with `host-reserve N > 1`, the other
 *   reserved addresses (slice+2 … slice+N) are excluded with one `--aux-address` each.
 * - Docker's own IPAM knows nothing of dnsmasq's leases: a fan serving DHCP is refused.
 * - With Docker's iptables on, Docker adds `-s <slice> ! -o <bridge> -j MASQUERADE`, which would NAT container
 *   traffic to other fan hosts (it leaves through the tunnel, not the bridge): masquerading is switched off for
 *   the network, fan's own nftables table does the egress NAT. Docker's FORWARD policy DROP is met by fan's
 *   FORWARD rules for the bridge, which `fanctl up` checks again.
 */
import { formatCidr, formatIpv4, u32 } from '../core/address/ipv4.js';
import type { Fan } from '../core/config/resolve.js';
import { ConfigError } from '../core/errors.js';
import { poolOf, rangeText } from '../core/ipam/pool.js';
import { dhcpSpec, fanMtu } from '../core/plan/host-plan.js';

export interface DockerBridgeConfig {
  readonly network: string;
  readonly bridge: string;
  readonly overlay: string;
  readonly subnet: string;
  readonly ipRange: string;
  readonly gateway: string;
  readonly mtu: number;
  /** The address Docker gives the first container. */
  readonly firstAddress: string;
  readonly auxAddresses: Readonly<Record<string, string>>;
  readonly options: Readonly<Record<string, string>>;
  readonly argv: readonly string[];
  /** `argv` as one shell command line. */
  readonly command: string;
  readonly notes: readonly string[];
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function dockerBridgeConfig(fan: Fan, name = 'fan'): DockerBridgeConfig {
  if (!NAME.test(name)) throw new ConfigError(`"${name}" is not a Docker network name`, 'use letters, digits, "_", "." and "-", starting with a letter or digit');
  const overlay = formatCidr(fan.map.overlay);
  if (fan.dhcp) {
    const dhcp = dhcpSpec(fan, { stateDir: '' });
    throw new ConfigError(
      `fan ${overlay} serves DHCP: dnsmasq hands out ${rangeText(dhcp.rangeStart, dhcp.rangeEnd)}, the addresses Docker's bridge driver would give containers`,
      `bring the fan up without --dhcp on hosts that run Docker containers (fanctl down -o ${overlay} -u ${fan.spec.underlay.text}, then fanctl up without --dhcp)`,
    );
  }
  const slice = formatCidr(fan.host.slice);
  const gateway = formatIpv4(fan.host.gateway);
  const mtu = fanMtu(fan);
  const auxAddresses: Record<string, string> = {};
  for (let i = 2; i <= fan.hostReserve; i++) auxAddresses[`host${i}`] = formatIpv4(u32(fan.host.slice.address + i));
  const options: Record<string, string> = {
    'com.docker.network.bridge.name': fan.bridge,
    'com.docker.network.driver.mtu': String(mtu),
    'com.docker.network.bridge.inhibit_ipv4': 'true',
    'com.docker.network.bridge.enable_ip_masquerade': 'false',
  };
  const argv = [
    'docker', 'network', 'create', '--driver', 'bridge',
    '--subnet', slice, '--ip-range', slice, '--gateway', gateway,
    ...Object.entries(auxAddresses).flatMap(([k, v]) => ['--aux-address', `${k}=${v}`]),
    ...Object.entries(options).flatMap(([k, v]) => ['-o', `${k}=${v}`]),
    name,
  ];
  const firstAddress = formatIpv4(u32(fan.host.slice.address + Math.max(2, fan.hostReserve + 1)));
  const pool = poolOf(fan);
  const notes = [
    `Containers on network ${name} get ${firstAddress} onwards from slice ${slice} of fan ${overlay}, gateway ${gateway} (${fan.bridge}), MTU ${mtu}.`,
    `Docker's bridge driver keeps its own address book: do not also attach containers to ${fan.bridge} with the fan CNI plugin or the fan Docker plugin on this host (their IPAM, ${pool.label}, is one Docker does not read).`,
    `--gateway is ${fan.bridge}'s own address and inhibit_ipv4 keeps Docker from re-addressing the bridge.`,
    ...(fan.hostReserve > 1 ? [`--aux-address keeps the host reserve (${rangeText(u32(fan.host.slice.address + 2), u32(fan.host.slice.address + fan.hostReserve))}) away from containers.`] : []),
    `With Docker's iptables on: Docker's FORWARD policy DROP is met by fan's FORWARD rules for ${fan.bridge} (fanctl up checks them again); enable_ip_masquerade=false keeps Docker's "-s ${slice} ! -o ${fan.bridge} -j MASQUERADE" from NATing traffic to other fan hosts (fan's own nftables table NATs traffic leaving the overlay).`,
    `docker network rm ${name} leaves ${fan.bridge} in place (Docker did not create it).`,
  ];
  return { network: name, bridge: fan.bridge, overlay, subnet: slice, ipRange: slice, gateway, mtu, firstAddress, auxAddresses, options, argv, command: argv.map(quote).join(' '), notes };
}

/** The notes as shell comments, then the command: pasteable as is. */
export function renderDockerConfig(config: DockerBridgeConfig): string {
  return `${[...config.notes.map((n) => `# ${n}`), config.command].join('\n')}\n`;
}

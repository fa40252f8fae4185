/**
 * `fanctl docker-config`: the alternative to the fan plugin that needs nothing but Docker, its bridge driver on
 * the fan bridge. Pure: renders the `docker network create` command (argv and text) and the notes an operator
 * needs, with Docker's quirks handled (each checked against dockerd 20.10 in test/e2e/docker.test.ts):
 *
 * - Docker sets the bridge's IPv4 address to the network's gateway: `--gateway` is the fan bridge's own address,
 *   and `com.docker.network.bridge.inhibit_ipv4=true` keeps Docker's hands off the bridge's addresses.
 * - Docker hands out the range from its start, skipping only the gateway: with `host-reserve N > 1`, the other
 *   reserved addresses (slice+2 … slice+N) are excluded with one `--aux-address` each.
 * - Docker's own IPAM knows nothing of dnsmasq's leases: on a fan serving DHCP, `--ip-range` is the largest CIDR
 *   block of the IPAM share of the slice (src/core/mapping/layout.ts), so Docker never hands out a DHCP address.
 * - With Docker's iptables on, Docker adds `-s <slice> ! -o <bridge> -j MASQUERADE`, which would NAT container
 *   traffic to other fan hosts (it leaves through the tunnel, not the bridge): masquerading is switched off for
 *   the network, fan's own nftables table does the egress NAT. Docker's FORWARD policy DROP is met by fan's
 *   FORWARD rules for the bridge, which `fanctl up` checks again.
 */
import { formatCidr, formatIpv4, u32 } from '../core/address/ipv4.js';
import type { Fan } from '../core/config/resolve.js';
import { ConfigError } from '../core/errors.js';
import { poolOf, rangeText } from '../core/ipam/pool.js';
import { fanMtu } from '../core/plan/host-plan.js';
import { formatRange, largestIpamBlock, rangeSize, sliceLayout } from '../core/mapping/layout.js';

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
  if (!NAME.test(name))
    throw new ConfigError(
      `"${name}" is not a Docker network name`,
      'use letters, digits, "_", "." and "-", starting with a letter or digit',
    );
  const overlay = formatCidr(fan.map.overlay);
  const layout = sliceLayout(fan);
  const block = largestIpamBlock(layout);
  if (block === undefined) {
    throw new ConfigError(
      `fan ${overlay} leaves no addresses to static allocation on this host: ` +
        (layout.dhcp
          ? `its DHCP range ${formatRange(layout.dhcp)} holds every container address`
          : 'the slice has no container addresses'),
      `give DHCP a share only (fanctl up … --dhcp-range N, ` +
        `or --dhcp for the default half), or bring the fan up without --dhcp`,
    );
  }
  const ipRange = formatCidr(block);
  const ipamInBlock = layout.ipam.filter(
    (r) => r.start <= block.address + 2 ** (32 - block.prefix) - 1 && r.end >= block.address,
  );
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
    'docker',
    'network',
    'create',
    '--driver',
    'bridge',
    '--subnet',
    slice,
    '--ip-range',
    ipRange,
    '--gateway',
    gateway,
    ...Object.entries(auxAddresses).flatMap(([k, v]) => ['--aux-address', `${k}=${v}`]),
    ...Object.entries(options).flatMap(([k, v]) => ['-o', `${k}=${v}`]),
    name,
  ];
  // The IPAM share never holds the network address, the gateway or the reserve, which Docker skips as well.
  const firstAddress = formatIpv4(Math.max(ipamInBlock[0]?.start ?? 0, block.address));
  const pool = poolOf(fan);
  const ipamSize = layout.ipam.reduce((n, r) => n + rangeSize(r), 0);
  const dockerSize = ipamInBlock.reduce(
    (n, r) =>
      n +
      rangeSize({
        start: Math.max(r.start, block.address),
        end: Math.min(r.end, block.address + 2 ** (32 - block.prefix) - 1),
      }),
    0,
  );
  const notes = [
    `Containers on network ${name} get ${firstAddress} onwards from slice ${slice} of fan ${overlay}, ` +
      `gateway ${gateway} (${fan.bridge}), MTU ${mtu}.`,
    `Docker's bridge driver keeps its own address book: do not also attach containers to ` +
      `${fan.bridge} with the fan CNI plugin or the fan Docker plugin on this host ` +
      `(their IPAM, ${pool.label}, is one Docker does not read).`,
    `--gateway is ${fan.bridge}'s own address and inhibit_ipv4 keeps Docker from re-addressing the bridge.`,
    ...(layout.dhcp
      ? [
          `--ip-range ${ipRange} keeps Docker inside the static share of the slice: ` +
            `dnsmasq hands out ${formatRange(layout.dhcp)}` +
            (dockerSize < ipamSize
              ? ` (Docker uses ${dockerSize} of the ${ipamSize} static addresses: ` +
                `${layout.ipam.map(formatRange).join(', ')})`
              : '') +
            '.',
        ]
      : []),
    ...(fan.hostReserve > 1
      ? [
          `--aux-address keeps the host reserve ` +
            `(${rangeText(u32(fan.host.slice.address + 2), u32(fan.host.slice.address + fan.hostReserve))}) ` +
            `away from containers.`,
        ]
      : []),
    `With Docker's iptables on: Docker's FORWARD policy DROP is met by fan's FORWARD rules for ${fan.bridge} ` +
      `(fanctl up checks them again); enable_ip_masquerade=false keeps Docker's "-s ` +
      `${slice} ! -o ${fan.bridge} -j MASQUERADE" from NATing traffic to other fan hosts ` +
      `(fan's own nftables table NATs traffic leaving the overlay).`,
    `docker network rm ${name} leaves ${fan.bridge} in place (Docker did not create it).`,
  ];
  return {
    network: name,
    bridge: fan.bridge,
    overlay,
    subnet: slice,
    ipRange,
    gateway,
    mtu,
    firstAddress,
    auxAddresses,
    options,
    argv,
    command: argv.map(quote).join(' '),
    notes,
  };
}

/** The notes as shell comments, then the command: pasteable as is. */
export function renderDockerConfig(config: DockerBridgeConfig): string {
  return `${[...config.notes.map((n) => `# ${n}`), config.command].join('\n')}\n`;
}

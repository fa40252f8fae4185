/** Operations rendered as argv for ip, iptables and dnsmasq. Pure: the kernel layer only runs them. */
import { formatCidr, formatIpv4 } from '../core/address/ipv4.js';
import { FAN_IPTABLES_COMMENT, FAN_ROUTE_PROTO, type DhcpSpec, type RouteSpec } from '../core/model/host-state.js';

export function routeArgv(verb: 'replace' | 'del', route: RouteSpec): string[] {
  const argv = ['ip', 'route', verb, formatCidr(route.dst)];
  if (route.via !== undefined) argv.push('via', formatIpv4(route.via));
  argv.push('dev', route.dev);
  if (route.via !== undefined) argv.push('onlink');
  if (verb === 'replace' && route.src !== undefined) argv.push('src', formatIpv4(route.src));
  argv.push('proto', String(FAN_ROUTE_PROTO));
  if (verb === 'replace' && route.mtu !== undefined) argv.push('mtu', String(route.mtu));
  return argv;
}

/**
 * ACCEPT rules fan puts in iptables' FORWARD chain when its policy drops (as Docker leaves it): traffic from the
 * bridge, replies to it, and overlay traffic arriving from other hosts (through the tunnel, or the underlay device
 * for host-gw). Each carries the comment `fan BRIDGE`.
 */
export function forwardRules(bridge: string, from: string): string[][] {
  const comment = ['-m', 'comment', '--comment', `${FAN_IPTABLES_COMMENT} ${bridge}`];
  return [
    ['-i', bridge, ...comment, '-j', 'ACCEPT'],
    ['-o', bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...comment, '-j', 'ACCEPT'],
    ['-i', from, '-o', bridge, ...comment, '-j', 'ACCEPT'],
  ];
}

export function iptablesArgv(verb: '-I' | '-D', rule: readonly string[]): string[] {
  return ['iptables', '-w', verb, 'FORWARD', ...rule];
}

/** Splits one `iptables -S` line into words (double quotes group, as iptables prints comments). */
export function splitRuleLine(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

/** The `-D` argv for each of fan's rules for `bridge` listed in `iptables -S FORWARD` output. */
export function forwardDeletes(rulesText: string, bridge: string): string[][] {
  return rulesText
    .split('\n')
    .filter((line) => line.startsWith('-A FORWARD ') && splitRuleLine(line).includes(`${FAN_IPTABLES_COMMENT} ${bridge}`))
    .map((line) => ['iptables', '-w', '-D', ...splitRuleLine(line).slice(1)]);
}

/** Bridges that have fan's rules, from `iptables -S FORWARD`. */
export function decodeForwardBridges(rulesText: string): { policyDrop: boolean; bridges: string[] } {
  const bridges = new Set<string>();
  let policyDrop = false;
  for (const line of rulesText.split('\n')) {
    if (/^-P FORWARD DROP/.test(line)) policyDrop = true;
    // The comment must be exactly `fan BRIDGE`, as forwardDeletes matches it: otherwise a rule whose comment only
    // starts so would count as fan's, and fan would neither add its own rules nor manage to delete that one.
    const words = splitRuleLine(line);
    const at = words.indexOf('--comment');
    const match = at < 0 ? null : new RegExp(`^${FAN_IPTABLES_COMMENT} (\\S+)$`).exec(words[at + 1] ?? '');
    if (match?.[1]) bridges.add(match[1]);
  }
  return { policyDrop, bridges: [...bridges] };
}

/** dnsmasq serving DHCP only (no DNS: port 0) on one fan bridge, authoritative, with gateway and MTU options. */
export function dnsmasqArgv(dhcp: DhcpSpec): string[] {
  return [
    'dnsmasq',
    '--conf-file=/dev/null',
    `--pid-file=${dhcp.pidFile}`,
    `--dhcp-leasefile=${dhcp.leaseFile}`,
    `--interface=${dhcp.bridge}`,
    '--bind-interfaces',
    '--except-interface=lo',
    '--port=0',
    '--user=root',
    `--dhcp-range=${formatIpv4(dhcp.rangeStart)},${formatIpv4(dhcp.rangeEnd)},${formatIpv4(dhcp.netmask)},1h`,
    `--dhcp-option=option:router,${formatIpv4(dhcp.gateway)}`,
    `--dhcp-option=option:mtu,${dhcp.mtu}`,
    '--dhcp-authoritative',
    '--dhcp-no-override',
  ];
}

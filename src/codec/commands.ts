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
 * ACCEPT rules fan keeps in iptables so a FORWARD policy DROP (Docker sets one when it starts) never cuts fan
 * traffic, even one set after `fanctl up`: traffic from the bridge,
 * replies to it, and overlay traffic arriving from other hosts (through the tunnel, or the underlay device for
 * host-gw). Each carries the comment `fan BRIDGE`. Why iptables at all, when everything else is in fan's nftables
 * table: an accept in one nftables base chain does not stop another table's chain on the same hook from dropping,
 * so only a rule in the chain that drops can let fan traffic through. With Docker present they go in DOCKER-USER,
 * the chain Docker keeps for its users' rules and evaluates first.
 */
export function forwardRules(bridge: string, from: string): string[][] {
  const comment = ['-m', 'comment', '--comment', `${FAN_IPTABLES_COMMENT} ${bridge}`];
  return [
    ['-i', bridge, ...comment, '-j', 'ACCEPT'],
    ['-o', bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...comment, '-j', 'ACCEPT'],
    ['-i', from, '-o', bridge, ...comment, '-j', 'ACCEPT'],
  ];
}

export const FORWARD_CHAINS = ['FORWARD', 'DOCKER-USER'] as const;
export type ForwardChain = (typeof FORWARD_CHAINS)[number];

export function iptablesArgv(verb: '-I' | '-D', chain: ForwardChain, rule: readonly string[]): string[] {
  return ['iptables', '-w', verb, chain, ...rule];
}

/** Splits one `iptables -S` line into words (double quotes group, as iptables prints comments). */
export function splitRuleLine(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

/** The bridge a rule line belongs to: its comment must be exactly `fan BRIDGE`. */
function ruleBridge(words: readonly string[]): string | undefined {
  const at = words.indexOf('--comment');
  return at < 0 ? undefined : new RegExp(`^${FAN_IPTABLES_COMMENT} (\\S+)$`).exec(words[at + 1] ?? '')?.[1];
}

/** The `-D` argv for each of fan's rules for `bridge` in `iptables -S CHAIN` output (any chain). */
export function forwardDeletes(rulesText: string, bridge: string): string[][] {
  return rulesText
    .split('\n')
    .map(splitRuleLine)
    .filter((words) => words[0] === '-A' && ruleBridge(words) === bridge)
    .map((words) => ['iptables', '-w', '-D', ...words.slice(1)]);
}

export interface ForwardRulesState {
  readonly policyDrop: boolean;
  /** fan's rules, as the bridge and the device its `-i FROM -o BRIDGE` rule accepts from ('' when that rule is missing). */
  readonly accepts: readonly { readonly bridge: string; readonly from: string }[];
}

/**
 * fan's rules in `iptables -S CHAIN` output. A comment must be exactly `fan BRIDGE` (as forwardDeletes matches):
 * a rule whose comment only starts so is not fan's, or fan would neither add its own nor manage to delete it.
 */
export function decodeForwardRules(rulesText: string): ForwardRulesState {
  const from = new Map<string, string>();
  let policyDrop = false;
  for (const line of rulesText.split('\n')) {
    if (/^-P FORWARD DROP/.test(line)) policyDrop = true;
    const words = splitRuleLine(line);
    const bridge = ruleBridge(words);
    if (bridge === undefined) continue;
    const input = words.indexOf('-i');
    const isPeerRule = input >= 0 && words.includes('-o');
    if (isPeerRule) from.set(bridge, words[input + 1] ?? '');
    else if (!from.has(bridge)) from.set(bridge, '');
  }
  return { policyDrop, accepts: [...from].map(([bridge, device]) => ({ bridge, from: device })) };
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

/**
 * An LXD profile that puts instances on a fan bridge, like Ubuntu's `fanatic enable-lxd`: a bridged NIC on the
 * fan bridge with the fan's MTU. LXD does not manage the bridge, so instances take their address from the fan's
 * dnsmasq (the fan must be up with --dhcp). Pure: renders YAML text.
 */
import { formatCidr, formatIpv4 } from '../core/address/ipv4.js';
import type { Fan } from '../core/config/resolve.js';
import { fanMtu } from '../core/plan/host-plan.js';

export interface LxdProfile {
  readonly name: string;
  readonly yaml: string;
  /** Problems an operator must fix before instances get addresses. */
  readonly warnings: readonly string[];
}

const quote = (text: string): string => JSON.stringify(text); // a JSON string is a valid YAML scalar

export function lxdProfile(fan: Fan, name = fan.bridge): LxdProfile {
  const warnings = fan.dhcp
    ? []
    : [`fan ${formatCidr(fan.map.overlay)} serves no DHCP: instances would get no address. Bring it up with --dhcp (fanctl up -o ${formatCidr(fan.map.overlay)} -u ${fan.spec.underlay.text} --dhcp).`];
  const yaml = [
    `name: ${name}`,
    `description: ${quote(`Fan ${formatCidr(fan.map.overlay)} over ${formatCidr(fan.map.underlay)}: slice ${formatCidr(fan.host.slice)}, gateway ${formatIpv4(fan.host.gateway)} (made by fanctl lxd-profile)`)}`,
    'config: {}',
    'devices:',
    '  eth0:',
    '    name: eth0',
    '    type: nic',
    '    nictype: bridged',
    `    parent: ${fan.bridge}`,
    `    mtu: ${quote(String(fanMtu(fan)))}`,
    '',
  ].join('\n');
  return { name, yaml, warnings };
}

/** dnsmasq serving DHCP on a fan bridge. */
import { formatIpv4 } from '../../core/address/ipv4.js';
import type { DhcpSpec } from '../../core/model/host-state.js';
import type { Op } from '../../core/plan/ops.js';
import type { Action, Change } from './action.js';

type OpOf<K extends Op['kind']> = Extract<Op, { kind: K }>;

/** DHCP only (no DNS: port 0) on one fan bridge, authoritative, with gateway and MTU options. */
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

export function renderDhcpStart(op: OpOf<'dhcp-start'>): Change[] {
  return [
    {
      apply: { kind: 'dnsmasq-start', dhcp: op.dhcp },
      undo: [{ kind: 'dnsmasq-stop', bridge: op.dhcp.bridge, forget: false }],
    },
  ];
}

export function renderDhcpStop(op: OpOf<'dhcp-stop'>): Change[] {
  const again: Action[] = op.spec ? [{ kind: 'dnsmasq-start', dhcp: op.spec }] : [];
  return [{ apply: { kind: 'dnsmasq-stop', bridge: op.bridge, forget: op.forget }, undo: again }];
}

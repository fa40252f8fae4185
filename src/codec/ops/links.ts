/** Links fan creates (bridges, the vxlan tunnel): created with fan's device group in the same call. */
import { formatCidr } from '../../core/address/ipv4.js';
import { FAN_LINK_GROUP, type LinkSpec } from '../../core/model/host-state.js';
import type { Op } from '../../core/plan/ops.js';
import { type Change, run } from './action.js';

type OpOf<K extends Op['kind']> = Extract<Op, { kind: K }>;

export function linkAddArgv(link: LinkSpec): string[] {
  const head = ['ip', 'link', 'add', link.name, 'group', FAN_LINK_GROUP];
  if (link.type === 'bridge') {
    return [...head, ...(link.mac ? ['address', link.mac] : []), 'mtu', String(link.mtu), 'type', 'bridge'];
  }
  return [
    ...head,
    ...['address', link.mac, 'mtu', String(link.mtu), 'type', 'vxlan', 'external', 'dstport', String(link.port)],
    'nolearning',
  ];
}

const linkDel = (name: string): string[] => ['ip', 'link', 'del', name];

/** Creating a link, up to the alias that labels it for people (the group already marks it as fan's). */
function create(link: LinkSpec): Change[] {
  const changes: Change[] = [{ apply: run(linkAddArgv(link)), undo: [run(linkDel(link.name))] }];
  if (link.type === 'vxlan') {
    // IPv6 off before `up`: its solicitations would only be dropped (and counted) by the egress program.
    changes.push({
      apply: run(['sysctl', '-q', '-w', `net.ipv6.conf.${link.name}.disable_ipv6=1`], { tolerate: '.' }),
      undo: [],
    });
  }
  // A tunnel has no neighbours to resolve: the programs set each packet's destination.
  const arp = link.type === 'vxlan' ? ['arp', 'off'] : [];
  changes.push({ apply: run(['ip', 'link', 'set', 'dev', link.name, ...arp, 'alias', link.alias]), undo: [] });
  return changes;
}

export function renderLinkAdd(op: OpOf<'link-add'>): Change[] {
  return create(op.link);
}

/** Deleting a link; undone by building it again with its addresses, ports and state. */
export function renderLinkDel(op: OpOf<'link-del'>): Change[] {
  const rebuild = [
    ...create(op.link).map((c) => c.apply),
    ...op.addresses.map((cidr) => run(['ip', 'address', 'add', formatCidr(cidr), 'dev', op.link.name])),
    ...op.ports.map((port) => run(['ip', 'link', 'set', 'dev', port, 'master', op.link.name])),
    ...(op.up ? [run(['ip', 'link', 'set', 'dev', op.link.name, 'up'])] : []),
  ];
  return [{ apply: run(linkDel(op.link.name)), undo: rebuild }];
}

export function renderLinkAlias(op: OpOf<'link-alias'>): Change[] {
  const back = op.was === undefined ? [] : [run(['ip', 'link', 'set', 'dev', op.name, 'alias', op.was])];
  return [{ apply: run(['ip', 'link', 'set', 'dev', op.name, 'alias', op.alias]), undo: back }];
}

export function renderLinkMtu(op: OpOf<'link-mtu'>): Change[] {
  const set = (mtu: number): string[] => ['ip', 'link', 'set', 'dev', op.name, 'mtu', String(mtu)];
  return [{ apply: run(set(op.mtu)), undo: [run(set(op.was))] }];
}

export function renderLinkUp(op: OpOf<'link-up'>): Change[] {
  return [
    {
      apply: run(['ip', 'link', 'set', 'dev', op.name, 'up']),
      undo: [run(['ip', 'link', 'set', 'dev', op.name, 'down'])],
    },
  ];
}

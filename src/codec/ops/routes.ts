/** fan's overlay routes (proto 250) and host-gw's placeholder neighbour. */
import { formatCidr, formatIpv4 } from '../../core/address/ipv4.js';
import { FAN_ROUTE_PROTO, type RouteSpec } from '../../core/model/host-state.js';
import type { Op } from '../../core/plan/ops.js';
import { type Change, run } from './action.js';

type OpOf<K extends Op['kind']> = Extract<Op, { kind: K }>;

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

export function renderRouteReplace(op: OpOf<'route-replace'>): Change[] {
  const back = op.was === undefined ? run(routeArgv('del', op.route)) : run(routeArgv('replace', op.was));
  return [{ apply: run(routeArgv('replace', op.route)), undo: [back] }];
}

export function renderRouteDel(op: OpOf<'route-del'>): Change[] {
  return [{ apply: run(routeArgv('del', op.route)), undo: [run(routeArgv('replace', op.route))] }];
}

const neighReplace = (dev: string, address: number, mac: string): string[] => [
  ...['ip', 'neigh', 'replace', formatIpv4(address), 'lladdr', mac, 'dev', dev, 'nud', 'permanent'],
];
const neighDel = (dev: string, address: number): string[] => ['ip', 'neigh', 'del', formatIpv4(address), 'dev', dev];

export function renderNeighReplace(op: OpOf<'neigh-replace'>): Change[] {
  const back = op.was === undefined ? run(neighDel(op.dev, op.address)) : run(neighReplace(op.dev, op.address, op.was));
  return [{ apply: run(neighReplace(op.dev, op.address, op.mac)), undo: [back] }];
}

export function renderNeighDel(op: OpOf<'neigh-del'>): Change[] {
  return [
    {
      apply: run(neighDel(op.dev, op.address), { tolerate: 'No such file|Cannot find' }),
      undo: [run(neighReplace(op.dev, op.address, op.mac))],
    },
  ];
}

/** Addresses on fan's bridges. */
import { formatCidr } from '../../core/address/ipv4.js';
import type { Op } from '../../core/plan/ops.js';
import { type Change, run } from './action.js';

type OpOf<K extends Op['kind']> = Extract<Op, { kind: K }>;
const addr = (verb: 'add' | 'del', op: OpOf<'addr-add' | 'addr-del'>): string[] => [
  'ip',
  'address',
  verb,
  formatCidr(op.cidr),
  'dev',
  op.dev,
];

export function renderAddrAdd(op: OpOf<'addr-add'>): Change[] {
  return [{ apply: run(addr('add', op)), undo: [run(addr('del', op))] }];
}

export function renderAddrDel(op: OpOf<'addr-del'>): Change[] {
  return [{ apply: run(addr('del', op)), undo: [run(addr('add', op))] }];
}

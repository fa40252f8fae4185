/** Kernel settings fan needs (IP forwarding). */
import type { Op } from '../../core/plan/ops.js';
import { type Change, run } from './action.js';

type OpOf<K extends Op['kind']> = Extract<Op, { kind: K }>;
const set = (key: string, value: string): string[] => ['sysctl', '-q', '-w', `${key}=${value}`];

export function renderSysctl(op: OpOf<'sysctl'>): Change[] {
  return [{ apply: run(set(op.key, op.value)), undo: [run(set(op.key, op.was))] }];
}

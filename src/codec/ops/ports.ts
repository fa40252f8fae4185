/** Containers' host veths on fan's bridges: put back on their bridge (`up`), or deleted (`down --force`). */
import type { Op } from '../../core/plan/ops.js';
import { type Change, run } from './action.js';

type OpOf<K extends Op['kind']> = Extract<Op, { kind: K }>;

/** The veth was on no bridge (its bridge was deleted and made again): undone by taking it off again. */
export function renderPortAttach(op: OpOf<'port-attach'>): Change[] {
  return [
    {
      apply: run(['ip', 'link', 'set', 'dev', op.dev, 'master', op.bridge, 'up']),
      undo: [run(['ip', 'link', 'set', 'dev', op.dev, 'nomaster'], { tolerate: 'Cannot find device' })],
    },
  ];
}

/**
 * Deleting a host veth deletes its container end too, which cannot be made again: no undo. The planner puts these
 * last, after every step that can be rolled back. A veth already gone counts as deleted.
 */
export function renderPortDel(op: OpOf<'port-del'>): Change[] {
  return [{ apply: run(['ip', 'link', 'del', op.dev], { tolerate: 'Cannot find device' }), undo: [] }];
}

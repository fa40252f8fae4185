/**
 * Applies operations by walking their rendered changes (src/codec/ops). When a change fails, every change this run
 * made is undone in reverse order, and the error names the failed step: the host is left as it was found.
 */
import { type Change, describeAction } from '../codec/ops/action.js';
import { type RenderContext, renderOp } from '../codec/ops/render.js';
import { FanError, errorMessage } from '../core/errors.js';
import { type Op, describeOp } from '../core/plan/ops.js';
import { type ActionContext, runAction } from './actions.js';

export async function applyOps(
  ops: readonly Op[],
  context: ActionContext & RenderContext,
  log: (line: string) => void = () => {},
): Promise<void> {
  const done: Change[] = [];
  let step = 0;
  try {
    for (const op of ops) {
      step++;
      log(describeOp(op));
      for (const change of renderOp(op, context)) {
        await runAction(change.apply, context);
        done.push(change);
      }
    }
  } catch (error) {
    const failures: string[] = [];
    for (const change of done.reverse()) {
      for (const undo of change.undo) {
        try {
          await runAction(undo, context);
        } catch (undoError) {
          failures.push(`${describeAction(undo)}: ${errorMessage(undoError)}`);
        }
      }
    }
    const op = ops[step - 1];
    const undone = done.filter((c) => c.undo.length > 0).length;
    throw new FanError(
      `step ${step} of ${ops.length} failed (${op ? describeOp(op) : '?'}): ${errorMessage(error)}\n` +
        (failures.length === 0
          ? `rolled back the ${undone} change(s) this run made`
          : `rollback incomplete:\n  ${failures.join('\n  ')}`),
      undefined,
      { cause: error },
    );
  }
}

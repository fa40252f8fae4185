/**
 * The state file against the kernel: the fans recorded in <state dir>/fans.json are planned again, and the plan is
 * diffed with what the kernel holds, exactly as `fanctl up` would; every operation left is a disagreement.
 */
import { describeOp } from '../../core/plan/ops.js';
import { diffHost } from '../../core/plan/diff.js';
import { type Check, fail, ok } from '../check.js';

export interface StateObservation {
  readonly stateFile: string;
  readonly fans: readonly string[];
  readonly resolveError?: string;
  /** What `fanctl up` would do to make the kernel match the state file. */
  readonly pending: readonly string[];
  readonly reup: string;
}

export const stateCheck: Check<StateObservation> = {
  id: 'state',
  title: 'state file agrees with the kernel',
  async gather(ctx) {
    return {
      stateFile: `${ctx.paths.stateDir}/fans.json`,
      fans: ctx.records.map((r) => r.words.join(' ')),
      ...(ctx.resolveError !== undefined ? { resolveError: ctx.resolveError } : {}),
      pending: ctx.resolveError === undefined ? diffHost(ctx.current, ctx.desired).map(describeOp) : [],
      reup: ctx.reup,
    };
  },
  judge(o) {
    if (o.resolveError !== undefined) {
      return fail(
        `the fans in ${o.stateFile} no longer fit this host: ${o.resolveError}`,
        'fix what the message names, or take the fan down (fanctl down -o OVERLAY)',
      );
    }
    if (o.pending.length > 0) {
      return fail(
        `the kernel does not match ${o.stateFile} (${o.fans.length} fan(s)); fanctl up would: ${o.pending.join('; ')}`,
        o.reup,
      );
    }
    return ok(
      o.fans.length === 0
        ? `no fan recorded in ${o.stateFile}, and none of fan's objects left`
        : `${o.fans.length} fan(s) in ${o.stateFile}, the kernel matches them`,
    );
  },
};

/**
 * The FORWARD policy and fan's ACCEPT rules: with a DROP policy (Docker sets one), only rules in the chain that
 * drops can let fan's traffic through, so fan keeps `fan BRIDGE` rules there. Missing rules under ACCEPT are a
 * warning: the next DROP (a Docker start) cuts the fan.
 */
import type { ForwardAcceptSpec } from '../../core/model/host-state.js';
import { type Check, fail, ok, skip, warn } from '../check.js';

export interface ForwardObservation {
  readonly iptables: boolean;
  /** `-P FORWARD X` from `iptables -S FORWARD`. */
  readonly policy: string | undefined;
  readonly chain: string;
  readonly expected: readonly ForwardAcceptSpec[];
  readonly present: readonly ForwardAcceptSpec[];
  readonly reup: string;
}

export const forwardCheck: Check<ForwardObservation> = {
  id: 'forward',
  title: 'FORWARD policy and fan accept rules',
  async gather(ctx) {
    const listing = await ctx.runner
      .run(['iptables', '-w', '-S', 'FORWARD'], { allowFailure: true })
      .catch(() => undefined);
    const policy = listing?.exitCode === 0 ? /^-P FORWARD (\S+)/m.exec(listing.stdout)?.[1] : undefined;
    return {
      iptables: ctx.current.iptables,
      policy,
      chain: ctx.current.forwardChain ?? 'FORWARD',
      expected: ctx.desired.forwardAccept,
      present: ctx.current.forwardAccept,
      reup: ctx.reup,
    };
  },
  judge(o) {
    if (o.expected.length === 0) return skip(`no fan is up (FORWARD policy ${o.policy ?? '?'})`);
    if (!o.iptables)
      return ok("iptables is not usable here: only nftables filters, and fan's table accepts its traffic");
    const missing = o.expected.filter((e) => !o.present.some((p) => p.bridge === e.bridge && p.from === e.from));
    if (missing.length === 0)
      return ok(
        `FORWARD policy ${o.policy ?? '?'}; ` +
          `fan's ACCEPT rules in ${o.chain} for ${o.expected.map((e) => e.bridge).join(', ')}`,
      );
    const what = missing.map((m) => `${m.bridge} (from ${m.from})`).join(', ');
    const fix = `${o.reup} (fan re-adds its rules; docs/doctor.md lists them)`;
    if (o.policy === 'DROP') {
      return fail(
        `FORWARD policy is DROP and fan's ACCEPT rules are missing in ${o.chain} for ${what}: ` +
          `forwarded fan traffic is dropped`,
        fix,
      );
    }
    return warn(
      `FORWARD policy is ${o.policy ?? '?'} but fan's ACCEPT rules are missing in ${o.chain} for ${what}: ` +
        `a later DROP policy (Docker sets one) will cut the fan`,
      fix,
    );
  },
};

/**
 * The shape of one doctor check: `gather` reads what it needs from the host (through the CommandRunner and the
 * shared context), `judge` is pure and turns that observation into a finding. Keeping judge pure lets every
 * verdict be unit-tested with a fixture, without root.
 */
import type { DoctorContext } from './context.js';

/** `skip`: the check does not apply here (no fan of that kind, nothing to probe). */
export type Verdict = 'ok' | 'warn' | 'fail' | 'skip';

export interface Finding {
  readonly verdict: Verdict;
  /** What was seen, in a sentence or a few. */
  readonly seen: string;
  /** What to do about it (absent when nothing needs doing). */
  readonly fix?: string;
}

export interface Check<O> {
  readonly id: string;
  readonly title: string;
  gather(ctx: DoctorContext): Promise<O>;
  judge(observation: O): Finding;
}

/** A check with its observation type hidden, so checks of different types share one list. */
export interface RunnableCheck {
  readonly id: string;
  readonly title: string;
  run(ctx: DoctorContext): Promise<Finding & { readonly observation: unknown }>;
}

export function defineCheck<O>(check: Check<O>): RunnableCheck {
  return {
    id: check.id,
    title: check.title,
    run: async (ctx) => {
      const observation = await check.gather(ctx);
      return { ...check.judge(observation), observation };
    },
  };
}

export const ok = (seen: string): Finding => ({ verdict: 'ok', seen });
export const skip = (seen: string): Finding => ({ verdict: 'skip', seen });
export const warn = (seen: string, fix: string): Finding => ({ verdict: 'warn', seen, fix });
export const fail = (seen: string, fix: string): Finding => ({ verdict: 'fail', seen, fix });

/** The worst of several findings, their texts joined: for checks that look at several objects. */
export function combine(findings: readonly Finding[], whenEmpty: Finding): Finding {
  if (findings.length === 0) return whenEmpty;
  const order: Verdict[] = ['fail', 'warn', 'ok', 'skip'];
  const worst = order.find((v) => findings.some((f) => f.verdict === v)) ?? 'ok';
  const relevant = worst === 'ok' || worst === 'skip' ? findings : findings.filter((f) => f.verdict === worst);
  const fixes = [...new Set(relevant.map((f) => f.fix).filter((f): f is string => f !== undefined))];
  return {
    verdict: worst,
    seen: [...new Set(relevant.map((f) => f.seen))].join('; '),
    ...(fixes.length > 0 ? { fix: fixes.join('; ') } : {}),
  };
}

/** Runs the checks one after the other against one context; a check that cannot gather fails with the reason. */
import { ConfigError, errorMessage } from '../core/errors.js';
import type { RunnableCheck, Verdict } from './check.js';
import type { DoctorContext } from './context.js';

export interface CheckReport {
  readonly id: string;
  readonly title: string;
  readonly verdict: Verdict;
  readonly seen: string;
  readonly fix?: string;
  readonly observation?: unknown;
}

export interface DoctorReport {
  readonly checks: readonly CheckReport[];
  readonly counts: Readonly<Record<Verdict, number>>;
  readonly failed: readonly string[];
}

export async function runChecks(
  checks: readonly RunnableCheck[],
  ctx: DoctorContext,
  progress: (done: number, total: number) => void = () => {},
): Promise<DoctorReport> {
  const out: CheckReport[] = [];
  for (const check of checks) {
    progress(out.length, checks.length);
    try {
      out.push({ id: check.id, title: check.title, ...(await check.run(ctx)) });
    } catch (error) {
      out.push({
        id: check.id,
        title: check.title,
        verdict: 'fail',
        seen: `could not inspect: ${errorMessage(error)}`,
        fix: 'run fanctl doctor as root, with the tools of setup.sh installed',
      });
    }
  }
  progress(out.length, checks.length);
  const counts: Record<Verdict, number> = { ok: 0, warn: 0, fail: 0, skip: 0 };
  for (const c of out) counts[c.verdict]++;
  return { checks: out, counts, failed: out.filter((c) => c.verdict === 'fail').map((c) => c.id) };
}

/** Picks checks by id; throws the list of valid ids on an unknown one. */
export function selectChecks(checks: readonly RunnableCheck[], ids: readonly string[]): RunnableCheck[] {
  if (ids.length === 0) return [...checks];
  const unknown = ids.filter((id) => !checks.some((c) => c.id === id));
  if (unknown.length > 0)
    throw new ConfigError(`unknown check ${unknown.join(', ')}`, `checks: ${checks.map((c) => c.id).join(', ')}`);
  return checks.filter((c) => ids.includes(c.id));
}

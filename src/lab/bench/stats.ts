/** Statistics of the bench: percentiles, the median and spread of repeated runs, ratios to bracketing runs. Pure. */

/** Nearest-rank percentile (p in 0..100); 0 for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? 0;
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** A figure measured several times: every run, the median and the spread (min and max). */
export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: readonly number[];
}

export function summarize(values: readonly number[]): Summary {
  return {
    median: median(values),
    min: values.length ? Math.min(...values) : 0,
    max: values.length ? Math.max(...values) : 0,
    runs: [...values],
  };
}

/**
 * Each measurement divided by the mean of the underlay runs just before and after it: this machine's speed drifts
 * from run to run, so a ratio is taken against the underlay measured next to it, not against a global median.
 */
export function bracketedRatios(values: readonly number[], brackets: readonly (readonly [number, number])[]): number[] {
  return values.map((v, i) => {
    const [before, after] = brackets[i] ?? [0, 0];
    const base = (before + after) / 2;
    return base > 0 ? v / base : 0;
  });
}

/** Half the range relative to the median, e.g. 0.03 for ±3 %: the spread printed next to a median. */
export function relativeSpread(s: Summary): number {
  return s.median > 0 ? (s.max - s.min) / 2 / s.median : 0;
}

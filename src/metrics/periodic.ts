/**
 * Runs a slow job in the background every `intervalMs` (counted from the end of one run to the start of the next)
 * and keeps its last result, so a scrape reads the latest result and never waits for the job. A failed run keeps
 * the previous result and is reported through `onError`.
 */
export interface Periodic<T> {
  latest(): T | undefined;
  /** Resolves when the run in progress (if any) finished; no run starts after it. */
  stop(): Promise<void>;
}

export function runPeriodically<T>(
  run: () => Promise<T>,
  intervalMs: number,
  onError: (error: unknown) => void,
): Periodic<T> {
  let latest: T | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = (): void => {
    running = run()
      .then((result) => {
        latest = result;
      })
      .catch(onError)
      .finally(() => {
        if (stopped) return;
        timer = setTimeout(tick, intervalMs);
        timer.unref(); // never what keeps the process alive
      });
  };
  tick();
  return {
    latest: () => latest,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

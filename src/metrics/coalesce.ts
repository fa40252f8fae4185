/**
 * At most one run of `work` at a time and at most one waiting: calls made during a run share the next run, which
 * starts after they were made (so its data is fresh), and a scraper that times out and retries cannot pile runs up.
 */
export function coalesce<T>(work: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  let queued: Promise<T> | undefined;
  const call = (): Promise<T> => {
    if (running === undefined) {
      running = work().finally(() => (running = undefined));
      return running;
    }
    queued ??= running
      .catch(() => undefined)
      .then(() => {
        queued = undefined;
        return call();
      });
    return queued;
  };
  return call;
}

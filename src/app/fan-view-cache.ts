/**
 * The fan view of a long-running process (the agent): reading it costs two `ip` processes and a parse of every
 * interface on the host, which a burst of attachments would otherwise pay once per call. A view is reused while
 * the fans file is unchanged (`fanctl up`/`down` rewrite it) and for at most `maxAgeMs` (for changes fan does not
 * make, such as the underlay address); concurrent callers share one read. `invalidate` drops it, e.g. after a
 * failed call (a bridge that vanished makes the create fail; the next call reads afresh).
 */
import type { FanView } from './fans.js';

export interface FanViewSource {
  readonly read: () => Promise<FanView>;
  /** Changes whenever the fans file changes (e.g. inode, mtime and size). */
  readonly stamp: () => Promise<string>;
  readonly maxAgeMs?: number;
  readonly now?: () => number;
}

export interface CachedFanView {
  get(): Promise<FanView>;
  invalidate(): void;
}

export function cachedFanView(source: FanViewSource): CachedFanView {
  const maxAge = source.maxAgeMs ?? 2000;
  const now = source.now ?? Date.now;
  let cached: { view: Promise<FanView>; stamp: string; at: number } | undefined;
  return {
    async get(): Promise<FanView> {
      const stamp = await source.stamp();
      const c = cached;
      if (c && c.stamp === stamp && now() - c.at < maxAge) return c.view;
      const view = source.read();
      const entry = { view, stamp, at: now() };
      cached = entry;
      view.catch(() => {
        if (cached === entry) cached = undefined;
      });
      return view;
    },
    invalidate(): void {
      cached = undefined;
    },
  };
}

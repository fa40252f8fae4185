import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FanView } from './fans.js';
import { cachedFanView } from './fan-view-cache.js';

describe('cachedFanView', () => {
  const view = (n: number): FanView => ({
    fans: [],
    facts: { interfaces: [], routes: Array.from({ length: n }, () => ({ dst: { address: 0, prefix: 0 } })) },
  });

  it(`reads once for concurrent callers, again when the fans file changes, when it is old, \
and after invalidate`, async () => {
    let reads = 0;
    let stamp = 'a';
    let now = 0;
    const cache = cachedFanView({
      read: () => Promise.resolve(view(++reads)),
      stamp: () => Promise.resolve(stamp),
      maxAgeMs: 1000,
      now: () => now,
    });
    const [x, y] = await Promise.all([cache.get(), cache.get()]);
    assert.equal(reads, 1);
    assert.equal(x, y);
    now = 999;
    await cache.get();
    assert.equal(reads, 1, 'still fresh');
    stamp = 'b';
    await cache.get();
    assert.equal(reads, 2, 'fanctl up/down rewrote the fans file');
    now = 2000;
    await cache.get();
    assert.equal(reads, 3, 'older than maxAgeMs');
    cache.invalidate();
    await cache.get();
    assert.equal(reads, 4, 'invalidated');
  });

  it('does not keep a failed read', async () => {
    let fail = true;
    let reads = 0;
    const cache = cachedFanView({
      read: () => (reads++, fail ? Promise.reject(new Error('ip failed')) : Promise.resolve(view(0))),
      stamp: () => Promise.resolve('s'),
    });
    await assert.rejects(cache.get(), /ip failed/);
    fail = false;
    await cache.get();
    assert.equal(reads, 2);
  });
});

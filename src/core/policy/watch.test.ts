import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  INITIAL_WATCH_STATE,
  type WatchEvent,
  type WatchState,
  type WatchTiming,
  describeWatch,
  nextStep,
  startApply,
  watchStep,
} from './watch.js';

const T: WatchTiming = { quietMs: 100, maxWaitMs: 400, retryMs: 1000, maxRetryMs: 4000 };

function run(events: readonly WatchEvent[], from: WatchState = INITIAL_WATCH_STATE): WatchState {
  return events.reduce((s, e) => watchStep(s, e, T).state, from);
}

const doc = (revision: number, text: string | undefined, at: number): WatchEvent => ({
  kind: 'document',
  at,
  doc: { revision: BigInt(revision), text },
});

describe('policy watch state machine', () => {
  it('applies a document after a quiet moment', () => {
    const s = run([{ kind: 'connected', at: 0 }, doc(5, 'default: open\n', 1000)]);
    assert.deepEqual(nextStep(s, 1000, T), { kind: 'wait', ms: 100 });
    assert.deepEqual(nextStep(s, 1100, T), { kind: 'apply', doc: { revision: 5n, text: 'default: open\n' } });
  });

  it('debounces a burst to its newest revision, but no later than maxWait after the first change', () => {
    let s = run([doc(1, 'a', 0)]);
    for (let i = 1; i <= 10; i++) s = watchStep(s, doc(1 + i, `v${i}`, i * 50), T).state;
    // changes every 50 ms: the quiet time never passes, the max wait does (400 ms after the first)
    assert.deepEqual(nextStep(s, 399, T), { kind: 'wait', ms: 1 });
    const step = nextStep(s, 400, T);
    assert.deepEqual(step, { kind: 'apply', doc: { revision: 11n, text: 'v10' } });
  });

  it('ignores older and repeated revisions (a resync after reconnecting)', () => {
    const s = run([doc(7, 'seven', 0), doc(7, 'seven', 10), doc(6, 'six', 20)]);
    assert.equal(s.latest?.revision, 7n);
    assert.equal(s.lastChangeAt, 0);
  });

  it('does nothing while an apply runs, and settles once it is applied', () => {
    let s = run([doc(3, 'x', 0)]);
    s = startApply(s, 3n);
    assert.deepEqual(nextStep(s, 1000, T), { kind: 'idle' });
    const t = watchStep(s, { kind: 'applied', at: 1200, revision: 3n, hash: 'abc' }, T);
    assert.deepEqual(nextStep(t.state, 5000, T), { kind: 'idle' });
    assert.equal(t.state.good?.hash, 'abc');
    assert.match(t.log.join('\n'), /revision 3: policy abc applied/);
  });

  it('a change during an apply is applied next', () => {
    let s = startApply(run([doc(3, 'x', 0)]), 3n);
    s = watchStep(s, doc(4, 'y', 50), T).state;
    s = watchStep(s, { kind: 'applied', at: 60, revision: 3n, hash: 'h3' }, T).state;
    assert.deepEqual(nextStep(s, 150, T), { kind: 'apply', doc: { revision: 4n, text: 'y' } });
  });

  it('keeps the last good policy when a document is refused, and does not try the refused revision again', () => {
    let s = startApply(run([doc(3, 'good', 0)]), 3n);
    s = watchStep(s, { kind: 'applied', at: 100, revision: 3n, hash: 'h3' }, T).state;
    s = startApply(watchStep(s, doc(4, 'bad', 200), T).state, 4n);
    const t = watchStep(s, { kind: 'refused', at: 400, revision: 4n, error: 'policy:1: default: bad' }, T);
    assert.match(t.log.join('\n'), /revision 4 refused: policy:1: default: bad; keeping policy h3 \(revision 3\)/);
    assert.deepEqual(nextStep(t.state, 100_000, T), { kind: 'idle' });
    const status = describeWatch(t.state);
    assert.equal(status.appliedRevision, '3');
    assert.equal(status.appliedHash, 'h3');
    assert.deepEqual(status.refused, {
      revision: '4',
      error: 'policy:1: default: bad',
      at: new Date(400).toISOString(),
    });
    assert.equal(status.pending, undefined);
    // a newer good revision clears the refusal
    let u = startApply(watchStep(t.state, doc(5, 'good again', 500), T).state, 5n);
    u = watchStep(u, { kind: 'applied', at: 700, revision: 5n, hash: 'h5' }, T).state;
    assert.equal(describeWatch(u).refused, undefined);
    assert.equal(describeWatch(u).appliedRevision, '5');
  });

  it('retries a failed apply with a growing, bounded delay', () => {
    let s = startApply(run([doc(3, 'x', 0)]), 3n);
    s = watchStep(s, { kind: 'failed', at: 1000, revision: 3n, error: 'nft busy' }, T).state;
    assert.deepEqual(nextStep(s, 1500, T), { kind: 'wait', ms: 500 });
    assert.equal(nextStep(s, 2000, T).kind, 'apply');
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      s = watchStep(startApply(s, 3n), { kind: 'failed', at: 10_000, revision: 3n, error: 'nft busy' }, T).state;
      delays.push((s.retryAt ?? 0) - 10_000);
    }
    assert.deepEqual(delays, [2000, 4000, 4000, 4000]);
    assert.equal(describeWatch(s).lastFailure, 'nft busy');
    assert.equal(describeWatch(s).pending, true);
  });

  it('a deleted key keeps the policy and applies nothing', () => {
    let s = startApply(run([doc(3, 'x', 0)]), 3n);
    s = watchStep(s, { kind: 'applied', at: 100, revision: 3n, hash: 'h3' }, T).state;
    const t = watchStep(s, doc(9, undefined, 200), T);
    assert.deepEqual(nextStep(t.state, 10_000, T), { kind: 'idle' });
    assert.match(t.log.join(''), /no document at revision 9: keeping policy h3/);
    assert.equal(describeWatch(t.state).deleted, true);
  });

  it('logs a disconnect once and the reconnect', () => {
    let s = run([{ kind: 'connected', at: 0 }]);
    const a = watchStep(s, { kind: 'disconnected', at: 1, error: 'unavailable' }, T);
    s = a.state;
    const b = watchStep(s, { kind: 'disconnected', at: 2, error: 'unavailable' }, T);
    const c = watchStep(b.state, { kind: 'connected', at: 3 }, T);
    assert.equal(a.log.length, 1);
    assert.equal(b.log.length, 0);
    assert.deepEqual(c.log, ['connected']);
    assert.equal(describeWatch(b.state).connectionError, 'unavailable');
    assert.equal(describeWatch(c.state).connectionError, undefined);
  });
});

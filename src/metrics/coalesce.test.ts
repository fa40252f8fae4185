import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coalesce } from './coalesce.js';

describe('coalesce', () => {
  it('runs once at a time; calls during a run share the next run', async () => {
    const gates: (() => void)[] = [];
    let runs = 0;
    const call = coalesce(async () => {
      const n = ++runs;
      await new Promise<void>((resolve) => gates.push(resolve));
      return n;
    });
    const first = call();
    const later = [call(), call(), call()];
    assert.equal(runs, 1);
    gates.shift()?.();
    assert.equal(await first, 1);
    while (gates.length === 0) await new Promise((r) => setImmediate(r));
    assert.equal(runs, 2);
    gates.shift()?.();
    assert.deepEqual(await Promise.all(later), [2, 2, 2]);
    const again = call();
    while (gates.length === 0) await new Promise((r) => setImmediate(r));
    gates.shift()?.();
    assert.equal(await again, 3);
  });
  it('starts the next run after a failed one', async () => {
    let runs = 0;
    const call = coalesce(async () => {
      runs++;
      if (runs === 1) throw new Error('first fails');
      return runs;
    });
    const [a, b] = [call(), call()];
    await assert.rejects(a, /first fails/);
    assert.equal(await b, 2);
  });
});

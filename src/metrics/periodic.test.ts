import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runPeriodically } from './periodic.js';

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !cond(); i++) await sleep(5);
  assert.ok(cond(), 'condition not reached within 1 s');
};

describe('runPeriodically', () => {
  it('runs again and again, keeps the latest result, and runs no more after stop', async () => {
    let runs = 0;
    const job = runPeriodically(
      async () => ++runs,
      1,
      (error) => assert.fail(String(error)),
    );
    assert.equal(job.latest(), undefined, 'nothing before the first run finished');
    await until(() => runs >= 3);
    await job.stop();
    assert.equal(job.latest(), runs);
    const after = runs;
    await sleep(20);
    assert.equal(runs, after);
  });

  it('keeps the last good result when later runs fail, and reports each failure', async () => {
    let runs = 0;
    const errors: unknown[] = [];
    const job = runPeriodically(
      async () => {
        if (++runs > 1) throw new Error(`run ${runs} failed`);
        return 'good';
      },
      1,
      (e) => errors.push(e),
    );
    await until(() => errors.length >= 2);
    await job.stop();
    assert.equal(job.latest(), 'good');
    assert.equal(errors.length, runs - 1);
  });
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { withLock } from './lock.js';

const dir = await mkdtemp(join(tmpdir(), 'fan-lock-'));
after(() => rm(dir, { recursive: true, force: true }));

/** A pid that certainly belongs to no running process: a child that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  assert.ok(child.pid);
  return child.pid;
}

describe('withLock', () => {
  it('serialises concurrent holders: no two run their critical section at once', async () => {
    const path = join(dir, 'serial.lock');
    let inside = 0;
    let most = 0;
    let counter = 0;
    await Promise.all(
      Array.from({ length: 40 }, () =>
        withLock(path, async () => {
          inside++;
          most = Math.max(most, inside);
          const seen = counter;
          await sleep(1);
          counter = seen + 1; // a lost update if two ran together
          inside--;
        }),
      ),
    );
    assert.equal(most, 1);
    assert.equal(counter, 40);
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.startsWith('serial')),
      [],
    );
  });

  it('takes over a lock whose owner died, once, even with many waiters', async () => {
    const path = join(dir, 'stale.lock');
    await mkdir(path);
    await writeFile(join(path, 'pid'), String(await deadPid()));
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        withLock(path, async () => {
          inside++;
          most = Math.max(most, inside);
          await sleep(2);
          inside--;
        }),
      ),
    );
    assert.equal(most, 1);
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.startsWith('stale')),
      [],
    );
  });

  it('waits for a live holder and times out with a message naming it', async () => {
    const path = join(dir, 'live.lock');
    await mkdir(path);
    await writeFile(join(path, 'pid'), String(process.pid));
    await assert.rejects(
      withLock(path, async () => 1, 100),
      new RegExp(`lock .*live.lock is busy: still held by pid ${process.pid}`),
    );
    await rm(path, { recursive: true });
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.startsWith('live')),
      [],
    );
  });

  it('releases the lock when the work throws', async () => {
    const path = join(dir, 'throw.lock');
    await assert.rejects(
      withLock(path, async () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(await withLock(path, async () => 'again'), 'again');
  });
});

/**
 * An exclusive lock between fan processes on one host: a directory created atomically (mkdir fails if it
 * exists), holding the owner's pid so a lock left by a crashed process is recognised and taken over.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { FanError } from '../core/errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function withLock<T>(path: string, work: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      await mkdir(path);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(await readFile(`${path}/pid`, 'utf8').catch(() => 'NaN'));
      if (Number.isInteger(owner) && !alive(owner)) {
        await rm(path, { recursive: true, force: true }); // stale: its holder died
        continue;
      }
      if (Date.now() > deadline) {
        throw new FanError(`timed out waiting for lock ${path} (held by pid ${Number.isInteger(owner) ? owner : 'unknown'})`, 'wait for the other fanctl to finish, or remove the lock if that process is gone');
      }
      await sleep(Math.min(5 + attempt * 2, 50));
    }
  }
  try {
    await writeFile(`${path}/pid`, String(process.pid));
    return await work();
  } finally {
    await rm(path, { recursive: true, force: true });
  }
}

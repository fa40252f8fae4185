/**
 * An exclusive lock between fan processes on one host (fanctl runs, hundreds of concurrent CNI calls).
 *
 * The lock is a directory holding its owner's pid. It is taken by renaming a private, already-filled directory
 * onto the lock path: rename fails while the lock exists (a non-empty directory), so a lock never exists without
 * its pid. A lock whose owner died is broken under a second lock (`PATH.break`), after re-reading that the same dead
 * pid still holds it, so two waiters can never both break it and then both hold it. Every removal renames the
 * whole directory away first, so the lock path is never an empty directory another process could rename onto.
 */
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { FanError } from '../core/errors.js';

/** A breaker that died while breaking leaves `PATH.break` behind; after this long it is ignored. */
const BREAK_STALE_MS = 10_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function ownerOf(path: string): Promise<number | undefined> {
  const pid = Number((await readFile(`${path}/pid`, 'utf8').catch(() => '')).trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

const unique = (path: string): string => `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;

/** Moves a directory out of the way, then deletes it. */
async function discard(path: string): Promise<void> {
  const grave = unique(`${path}.gone`);
  try {
    await rename(path, grave);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  await rm(grave, { recursive: true, force: true });
}

/** Removes the lock if `deadOwner` still holds it. Serialised by `PATH.break`. */
async function breakStale(path: string, deadOwner: number): Promise<void> {
  const breaker = `${path}.break`;
  try {
    await mkdir(breaker);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const age = Date.now() - ((await stat(breaker).catch(() => undefined))?.mtimeMs ?? Date.now());
    if (age > BREAK_STALE_MS) await discard(breaker);
    return; // someone else is breaking it; retry acquiring
  }
  try {
    if ((await ownerOf(path)) === deadOwner) await discard(path);
  } finally {
    await rm(breaker, { recursive: true, force: true });
  }
}

export async function withLock<T>(path: string, work: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const mine = unique(path);
  await mkdir(mine);
  await writeFile(`${mine}/pid`, String(process.pid));
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await rename(mine, path);
        break;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
      }
      const owner = await ownerOf(path);
      if (owner !== undefined && !alive(owner)) {
        await breakStale(path, owner);
        continue;
      }
      if (Date.now() > deadline) {
        throw new FanError(`timed out waiting for lock ${path} (held by pid ${owner ?? 'unknown'})`, 'wait for the other fan process to finish, or remove the lock if that process is gone');
      }
      await sleep(Math.min(5 + attempt * 2, 50));
    }
  } catch (error) {
    await rm(mine, { recursive: true, force: true });
    throw error;
  }
  try {
    return await work();
  } finally {
    await discard(path);
  }
}

/**
 * An exclusive lock between fan processes on one host (fanctl runs, hundreds of concurrent CNI calls).
 *
 * The lock is a directory holding its owner's pid. It is taken by renaming a private, already-filled directory
 * onto the lock path: rename fails while the lock exists (a non-empty directory), so a lock never exists without
 * its pid. A lock whose owner died is broken under a second lock (`PATH.break`), after re-reading that the same dead
 * pid still holds it, so two waiters can never both break it and then both hold it. Every removal renames the
 * whole directory away first, so the lock path is never an empty directory another process could rename onto.
 *
 * Waiters poll at random intervals of the same range whatever they have waited so far: with a delay that grew with
 * each attempt, the oldest waiters polled least often and lost every race to newcomers (under hundreds of
 * concurrent CNI calls some starved until they timed out). A wait that runs out is a BusyError ("try again later"):
 * nothing was changed. The lock directory is 0700 and its pid file 0600, whatever the umask. The file calls are
 * synchronous (see json-file.ts); only the wait between two attempts yields.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes, randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { BusyError } from '../core/errors.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, stateFsError } from './private-dir.js';

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

function ownerOf(path: string): number | undefined {
  let text = '';
  try {
    text = readFileSync(`${path}/pid`, 'utf8');
  } catch {
    // no owner (yet, or any more)
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

const unique = (path: string): string => `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;

/** Moves a directory out of the way, then deletes it. */
function discard(path: string): void {
  const grave = unique(`${path}.gone`);
  try {
    renameSync(path, grave);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  rmSync(grave, { recursive: true, force: true });
}

/** Removes the lock if `deadOwner` still holds it. Serialised by `PATH.break`. */
function breakStale(path: string, deadOwner: number): void {
  const breaker = `${path}.break`;
  try {
    mkdirSync(breaker);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const age = Date.now() - (statSync(breaker, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if (age > BREAK_STALE_MS) discard(breaker);
    return; // someone else is breaking it; retry acquiring
  }
  try {
    if (ownerOf(path) === deadOwner) discard(path);
  } finally {
    rmSync(breaker, { recursive: true, force: true });
  }
}

/** How long a lock is waited for unless the caller says otherwise. */
export const DEFAULT_LOCK_WAIT_MS = 30_000;
/** Bounds of the random delay between two attempts. */
const POLL_MIN_MS = 2;
const POLL_MAX_MS = 25;

/** Creates the private, pid-filled directory that is renamed onto the lock. */
async function prepare(path: string): Promise<string> {
  const mine = unique(path);
  try {
    mkdirSync(mine, { mode: PRIVATE_DIR_MODE });
    chmodSync(mine, PRIVATE_DIR_MODE);
    writeFileSync(`${mine}/pid`, String(process.pid), { mode: PRIVATE_FILE_MODE });
    chmodSync(`${mine}/pid`, PRIVATE_FILE_MODE);
  } catch (error) {
    try {
      rmSync(mine, { recursive: true, force: true });
    } catch {
      // the first error is the one to report
    }
    throw await stateFsError(error, path, 'take the lock');
  }
  return mine;
}

export async function withLock<T>(path: string, work: () => Promise<T>, timeoutMs = DEFAULT_LOCK_WAIT_MS): Promise<T> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  const mine = await prepare(path);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        renameSync(mine, path);
        break;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw await stateFsError(error, path, 'take the lock');
      }
      const owner = ownerOf(path);
      if (owner !== undefined && !alive(owner)) {
        breakStale(path, owner);
        continue;
      }
      if (Date.now() > deadline) {
        throw new BusyError(
          `lock ${path} is busy: still held by pid ${owner ?? 'unknown'} after waiting ` +
            `${((Date.now() - started) / 1000).toFixed(1)} s (${attempt + 1} attempts)`,
          'try again later: another fan process is working on the same state (a runtime retries CNI code 11 by itself)',
        );
      }
      await sleep(randomInt(POLL_MIN_MS, POLL_MAX_MS + 1));
    }
  } catch (error) {
    rmSync(mine, { recursive: true, force: true });
    throw error;
  }
  try {
    return await work();
  } finally {
    discard(path);
  }
}

/**
 * JSON documents written atomically (temp file + rename), so a crash never leaves a half-written file.
 *
 * The calls on state files are synchronous on purpose. The files are small and live on /run (tmpfs): a
 * synchronous call takes microseconds, while an asynchronous one is a round trip through libuv's four-thread
 * pool, and the agent's container attach queued 5-10 ms of such trips behind one another (lock, read, write,
 * rename, unlock for each of the lease and the port binding). The same holds for the locks (lock.ts) and
 * the state directory (private-dir.ts).
 */
import { closeSync, fchmodSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import type { z } from 'zod';
import { FanError, errorMessage } from '../core/errors.js';
import { PRIVATE_FILE_MODE, ensurePrivateDir, stateFsError } from './private-dir.js';

export async function readJson<T>(path: string, schema: z.ZodType<T>, fallback: T): Promise<T> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw await stateFsError(error, path, 'read');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new FanError(`state file ${path} is corrupt: not JSON (${errorMessage(error)})`, `inspect or remove ${path}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new FanError(
      `state file ${path} is corrupt: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      `inspect or remove ${path}`,
    );
  }
  return parsed.data;
}

/** Writes `value` to `path` as a 0600 file, replacing it in one rename; creates the directory (0700) if needed. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await ensurePrivateDir(dirname(path));
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fd = openSync(temp, 'wx', PRIVATE_FILE_MODE);
    try {
      fchmodSync(fd, PRIVATE_FILE_MODE); // open's mode is masked by the umask
      writeFileSync(fd, `${JSON.stringify(value, null, 2)}\n`);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    try {
      rmSync(temp, { force: true });
    } catch {
      // the write's error is the one to report
    }
    throw await stateFsError(error, path, 'write');
  }
}

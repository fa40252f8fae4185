/** JSON documents written atomically (temp file + rename), so a crash never leaves a half-written file. */
import { open, readFile, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import type { z } from 'zod';
import { FanError, errorMessage } from '../core/errors.js';
import { PRIVATE_FILE_MODE, ensurePrivateDir, stateFsError } from './private-dir.js';

export async function readJson<T>(path: string, schema: z.ZodType<T>, fallback: T): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
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
    const file = await open(temp, 'wx', PRIVATE_FILE_MODE);
    try {
      await file.chmod(PRIVATE_FILE_MODE); // open's mode is masked by the umask
      await file.writeFile(`${JSON.stringify(value, null, 2)}\n`);
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw await stateFsError(error, path, 'write');
  }
}

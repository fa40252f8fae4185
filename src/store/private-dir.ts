/**
 * fan's state files are private to root whatever the caller's umask: directories 0700, files 0600. `mkdir` and
 * `open` apply the umask to the mode they are given (umask 000 gave 0777 directories and 0666 lease files; a strict
 * umask such as 0277 would give directories root cannot write), so every directory and file fan creates is chmod-ed
 * to its mode right after. A directory that already existed keeps its mode: fan does not change what it did not create.
 *
 * File-system errors on these paths become one-line errors that name the path and the fix (a state dir that names a
 * file, a state file that is a directory, no permission), never a stack trace.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError, FanError, StateError } from '../core/errors.js';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

const codeOf = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | undefined)?.code;

/** The first component of `path` (from the root down) that exists and is not a directory. */
async function fileInTheWay(path: string): Promise<string | undefined> {
  const parts: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    parts.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const p of parts) {
    const s = await stat(p).catch(() => undefined);
    if (s === undefined) return undefined;
    if (!s.isDirectory()) return p;
  }
  return undefined;
}

/**
 * The error to report for a failed file-system call on `path` (a state file or directory): names the path, the
 * problem and the fix. Errors that are not file-system errors are returned unchanged.
 */
export async function stateFsError(error: unknown, path: string, action: string): Promise<unknown> {
  const code = codeOf(error);
  if (code === 'ENOTDIR' || code === 'EEXIST') {
    const file = await fileInTheWay(path);
    if (file !== undefined) {
      return new ConfigError(
        `cannot ${action} ${path}: ${file} is a file, not a directory`,
        `point FAN_STATE_DIR at a directory (the default is /run/fan), or remove ${file}`,
        { cause: error },
      );
    }
  }
  if (code === 'EISDIR')
    return new StateError(`cannot ${action} ${path}: it is a directory`, `remove ${path} (fan keeps a file there)`, {
      cause: error,
    });
  if (code === 'EACCES' || code === 'EPERM') {
    return new FanError(
      `cannot ${action} ${path}: permission denied`,
      'run fan as root (its state is private to root)',
      { cause: error },
    );
  }
  if (code === 'EROFS')
    return new FanError(
      `cannot ${action} ${path}: the file system is read-only`,
      'point FAN_STATE_DIR at a writable directory',
      { cause: error },
    );
  if (code === 'ENOSPC')
    return new FanError(`cannot ${action} ${path}: no space left on the device`, 'free some space', { cause: error });
  if (code !== undefined && error instanceof Error) {
    return new FanError(`cannot ${action} ${path}: ${error.message}`, `check ${path}`, { cause: error });
  }
  return error;
}

/**
 * Creates `path` (and missing parents) as 0700 directories; a directory that exists is left as it is.
 * Synchronous (see json-file.ts), which also keeps the umask change below from leaking into other work.
 */
export async function ensurePrivateDir(path: string): Promise<void> {
  let first: string | undefined;
  // A umask that takes the owner's write bit (0277) would leave parents no one but root can fill: create under 077.
  const umask = process.umask(0o077);
  try {
    first = mkdirSync(path, { recursive: true, mode: PRIVATE_DIR_MODE });
  } catch (error) {
    throw await stateFsError(error, path, 'create the state directory');
  } finally {
    process.umask(umask);
  }
  if (first === undefined) {
    // mkdir -p succeeds on an existing path only when it is a directory; a file there is EEXIST (above).
    return;
  }
  // Every directory from `first` down to `path` is ours.
  const created: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    created.push(p);
    if (p === resolve(first) || dirname(p) === p) break;
  }
  for (const dir of created) chmodSync(dir, PRIVATE_DIR_MODE);
}

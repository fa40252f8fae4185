/**
 * Reading config files (/etc/network/fan, --config PATH). Only regular files, and at most MAX_CONFIG_BYTES: a path
 * to a directory, a device such as /dev/zero or a FIFO is refused at once, and so is a file too large to be a fan
 * config, instead of reading forever or running out of memory.
 */
import { constants, open } from 'node:fs/promises';
import { ConfigError, FanError } from '../core/errors.js';
import type { TextFiles } from '../ports/host.js';

/** Far more than any fan config (one line per fan); small enough to read at once. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

const codeOf = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | undefined)?.code;

function kindOf(stats: {
  isDirectory(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
}): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

export async function readTextFile(path: string, maxBytes = MAX_CONFIG_BYTES): Promise<string | undefined> {
  let file;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; the type check below refuses it.
    file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = codeOf(error);
    if (code === 'ENOENT') return undefined;
    if (code === 'EACCES' || code === 'EPERM')
      throw new ConfigError(
        `cannot read ${path}: permission denied`,
        `run as root, or pass a file you can read with --config PATH`,
      );
    if (code === 'ENOTDIR')
      throw new ConfigError(
        `cannot read ${path}: a part of the path is a file, not a directory`,
        'pass the path of the config file with --config PATH',
      );
    if (code === 'ELOOP')
      throw new ConfigError(`cannot read ${path}: too many symbolic links`, 'pass the path of the config file itself');
    throw new FanError(
      `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`,
      'pass a readable config file with --config PATH',
      { cause: error },
    );
  }
  try {
    const stats = await file.stat();
    if (!stats.isFile())
      throw new ConfigError(
        `${path} is ${kindOf(stats)}, not a config file`,
        'pass the path of a regular file with --config PATH (one fan per line)',
      );
    if (stats.size > maxBytes)
      throw new ConfigError(
        `${path} is ${stats.size} bytes: too large for a fan config (at most ${maxBytes})`,
        'pass the fan config file (one fan per line) with --config PATH',
      );
    // The size can change while reading (or be wrong, as in /proc): never read more than the limit.
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await file.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes)
      throw new ConfigError(
        `${path} is larger than ${maxBytes} bytes: too large for a fan config`,
        'pass the fan config file (one fan per line) with --config PATH',
      );
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    await file.close();
  }
}

export const nodeTextFiles: TextFiles = {
  read: (path) => readTextFile(path),
};

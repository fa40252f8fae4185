/** The real SystemFiles and Processes: node:fs and /proc. */
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { System } from '../ports/system.js';

export const nodeSystem: System = {
  async read(path) {
    try {
      return await readFile(path, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw error;
    }
  },
  async write(path, text) {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const temp = `${path}.${process.pid}.tmp`;
    await writeFile(temp, text, { mode: 0o600 });
    await rename(temp, path);
  },
  async remove(path) {
    await rm(path, { force: true });
  },
  async list(dir) {
    try {
      return await readdir(dir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw error;
    }
  },
  async command(pid) {
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => undefined);
    return comm?.trim();
  },
  signal(pid, signal) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
  },
  async sleep(ms) {
    await sleep(ms);
  },
};

import { readFile } from 'node:fs/promises';
import type { TextFiles } from '../ports/host.js';

export const nodeTextFiles: TextFiles = {
  async read(path) {
    try {
      return await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  },
};

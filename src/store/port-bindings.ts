/**
 * fan's record of the ports it bound, `<stateDir>/bindings.json`: what `fanctl up` rebuilds table `bridge fan-bind`
 * from. One entry per attached port (the state grows only with this host's containers); changed under a lock,
 * written atomically. Each entry carries when it was made, so `up` can tell a binding whose veth is about to be
 * created from one whose veth is long gone.
 */
import { z } from 'zod';
import { ensurePrivateDir } from './private-dir.js';
import { readJson, writeJsonAtomic } from './json-file.js';
import { withLock } from './lock.js';

const entrySchema = z.object({
  port: z.string().min(1),
  mac: z.string(),
  addresses: z.array(z.string()),
  since: z.string(),
});
const fileSchema = z.object({ version: z.literal(1), bindings: z.array(entrySchema) });
export type StoredPortBinding = z.infer<typeof entrySchema>;

export class PortBindingStore {
  constructor(readonly stateDir: string) {}

  get path(): string {
    return `${this.stateDir}/bindings.json`;
  }

  async read(): Promise<StoredPortBinding[]> {
    return (await readJson(this.path, fileSchema, { version: 1, bindings: [] })).bindings;
  }

  /** Only under `locked`. */
  async write(bindings: readonly StoredPortBinding[]): Promise<void> {
    await writeJsonAtomic(this.path, { version: 1, bindings });
  }

  /** Runs `work` holding the bindings lock: the record and the kernel table change together. */
  async locked<T>(work: () => Promise<T>): Promise<T> {
    await ensurePrivateDir(this.stateDir);
    return withLock(`${this.stateDir}/bindings.lock`, work);
  }
}

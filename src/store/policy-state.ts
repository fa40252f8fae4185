/**
 * The policy state of one host, under `<stateDir>/policy/`:
 *   applied.yaml   the text of the last policy applied (what `fanctl up` re-applies, what CNI groups read)
 *   applied.json   its hash, where it came from, when, and the last refused document (watch)
 *   bindings.json  bridge ports and the addresses they were given (what the anti-spoofing set is rebuilt from)
 * State grows only with this host's containers. Writes are atomic; bindings change under a lock.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { readJson, writeJsonAtomic } from './json-file.js';
import { withLock } from './lock.js';

const appliedSchema = z.object({
  version: z.literal(1),
  hash: z.string(),
  source: z.string(),
  appliedAt: z.string(),
  /** The last document refused (watch keeps the previous policy), with why. */
  refused: z.object({ at: z.string(), source: z.string(), error: z.string() }).optional(),
});
export type AppliedRecord = z.infer<typeof appliedSchema>;

const bindingSchema = z.object({ port: z.string().min(1), address: z.string() });
const bindingsSchema = z.object({ version: z.literal(1), bindings: z.array(bindingSchema) });
export type StoredBinding = z.infer<typeof bindingSchema>;

export class PolicyStateStore {
  constructor(readonly stateDir: string) {}

  get dir(): string {
    return `${this.stateDir}/policy`;
  }

  get lockPath(): string {
    return `${this.dir}/policy.lock`;
  }

  async readText(): Promise<string | undefined> {
    return readFile(`${this.dir}/applied.yaml`, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
  }

  async readRecord(): Promise<AppliedRecord | undefined> {
    const r = await readJson(`${this.dir}/applied.json`, appliedSchema.optional(), undefined);
    return r;
  }

  async writeApplied(text: string, record: AppliedRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const temp = `${this.dir}/applied.yaml.${process.pid}.tmp`;
    await writeFile(temp, text);
    await rename(temp, `${this.dir}/applied.yaml`);
    await writeJsonAtomic(`${this.dir}/applied.json`, record);
  }

  async writeRecord(record: AppliedRecord): Promise<void> {
    await writeJsonAtomic(`${this.dir}/applied.json`, record);
  }

  async forget(): Promise<void> {
    await rm(`${this.dir}/applied.yaml`, { force: true });
    await rm(`${this.dir}/applied.json`, { force: true });
  }

  async readBindings(): Promise<StoredBinding[]> {
    return (await readJson(`${this.dir}/bindings.json`, bindingsSchema, { version: 1, bindings: [] })).bindings;
  }

  /** Only under `withBindingsLock`. */
  async writeBindings(bindings: readonly StoredBinding[]): Promise<void> {
    await writeJsonAtomic(`${this.dir}/bindings.json`, { version: 1, bindings });
  }

  /** Runs `work` holding the bindings lock (apply reads the bindings and loads the set in one step). */
  withBindingsLock<T>(work: () => Promise<T>): Promise<T> {
    return mkdir(this.dir, { recursive: true }).then(() => withLock(`${this.dir}/bindings.lock`, work));
  }
}

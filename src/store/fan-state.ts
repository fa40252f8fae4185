/**
 * /run/fan/fans.json: which fans this host runs, as the words they were brought up with, where they came from and
 * what their underlay resolved to. Everything else (devices, routes, tables) is derived from these.
 */
import { z } from 'zod';
import { readJson, writeJsonAtomic } from './json-file.js';

export const DEFAULT_STATE_DIR = '/run/fan';

const cidr = z.object({ address: z.number(), prefix: z.number() });
/** What the fan resolved to when it came up (see RecordedUnderlay); absent in files of older versions. */
const resolved = z.object({
  underlay: cidr,
  host: z.number(),
  device: z.string(),
  deviceMtu: z.number(),
  deviceMac: z.string().optional(),
});
const fanRecord = z.object({
  words: z.array(z.string()),
  /** `cli` for `fanctl up -o …`, or the config file path for `fanctl up -a`. */
  source: z.string(),
  resolved: resolved.optional(),
});
const fansFile = z.object({ version: z.literal(1), fans: z.array(fanRecord) });

export type FanRecord = z.infer<typeof fanRecord>;

export class FanStateStore {
  constructor(readonly dir: string) {}

  get lockPath(): string {
    return `${this.dir}/fans.lock`;
  }

  async read(): Promise<FanRecord[]> {
    return (await readJson(`${this.dir}/fans.json`, fansFile, { version: 1, fans: [] })).fans;
  }

  async write(fans: readonly FanRecord[]): Promise<void> {
    await writeJsonAtomic(`${this.dir}/fans.json`, { version: 1, fans });
  }
}

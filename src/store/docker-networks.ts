/**
 * `<stateDir>/docker/networks.json`: the policy group of each Docker network created with `-o fan.group=NAME`,
 * written under its lock (Docker may create networks in parallel).
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { NetworkGroups } from '../ports/docker-networks.js';
import { readJson, writeJsonAtomic } from './json-file.js';
import { withLock } from './lock.js';

const fileSchema = z.object({
  version: z.literal(1),
  networks: z.array(z.object({ networkId: z.string(), group: z.string() })),
});
type NetworksFile = z.infer<typeof fileSchema>;

export function dockerNetworksPath(stateDir: string): string {
  return `${stateDir}/docker/networks.json`;
}

export class FileNetworkGroups implements NetworkGroups {
  constructor(readonly path: string) {}

  private read(): Promise<NetworksFile> {
    return readJson(this.path, fileSchema, { version: 1, networks: [] });
  }

  async group(networkId: string): Promise<string | undefined> {
    return (await this.read()).networks.find((n) => n.networkId === networkId)?.group;
  }

  async set(networkId: string, group: string | undefined): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    await withLock(`${this.path}.lock`, async () => {
      const before = (await this.read()).networks;
      const others = before.filter((n) => n.networkId !== networkId);
      if (group === undefined && others.length === before.length) return;
      await writeJsonAtomic(this.path, {
        version: 1,
        networks: [...others, ...(group !== undefined ? [{ networkId, group }] : [])],
      } satisfies NetworksFile);
    });
  }
}

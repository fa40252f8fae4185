/**
 * The record of published Docker ports: `<stateDir>/docker/ports.json`, read and written under its lock so
 * concurrent calls (Docker starts containers in parallel) never lose one another's bindings.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { formatIpv4, parseIpv4 } from '../core/address/ipv4.js';
import type { PublishedEndpoint } from '../core/attach/published-ports.js';
import type { PublishedPortsRecord } from '../ports/published-ports.js';
import { readJson, writeJsonAtomic } from './json-file.js';
import { withLock } from './lock.js';

const portSchema = z.object({
  proto: z.enum(['tcp', 'udp', 'sctp']),
  hostIp: z.string().optional(),
  hostPort: z.number().int().min(1).max(65535),
  port: z.number().int().min(1).max(65535),
});
const fileSchema = z.object({
  version: z.literal(1),
  endpoints: z.array(
    z.object({ endpointId: z.string(), networkId: z.string(), address: z.string(), ports: z.array(portSchema) }),
  ),
});
type PortsFile = z.infer<typeof fileSchema>;

export function dockerPortsPath(stateDir: string): string {
  return `${stateDir}/docker/ports.json`;
}

function decode(file: PortsFile): PublishedEndpoint[] {
  return file.endpoints.map((e) => ({
    ...e,
    address: parseIpv4(e.address),
    ports: e.ports.map((p) => ({
      proto: p.proto,
      hostPort: p.hostPort,
      port: p.port,
      ...(p.hostIp !== undefined ? { hostIp: parseIpv4(p.hostIp) } : {}),
    })),
  }));
}

function encode(entries: readonly PublishedEndpoint[]): PortsFile {
  return {
    version: 1,
    endpoints: entries.map((e) => ({
      endpointId: e.endpointId,
      networkId: e.networkId,
      address: formatIpv4(e.address),
      ports: e.ports.map((p) => ({
        proto: p.proto,
        hostPort: p.hostPort,
        port: p.port,
        ...(p.hostIp !== undefined ? { hostIp: formatIpv4(p.hostIp) } : {}),
      })),
    })),
  };
}

export class FilePublishedPorts implements PublishedPortsRecord {
  constructor(readonly path: string) {}

  async list(): Promise<readonly PublishedEndpoint[]> {
    return decode(await readJson(this.path, fileSchema, { version: 1, endpoints: [] }));
  }

  async update(
    change: (entries: readonly PublishedEndpoint[]) => Promise<readonly PublishedEndpoint[]>,
  ): Promise<readonly PublishedEndpoint[]> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    return withLock(`${this.path}.lock`, async () => {
      const next = await change(await this.list());
      await writeJsonAtomic(this.path, encode(next));
      return next;
    });
  }
}

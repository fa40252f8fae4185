/**
 * A small client of dockerd's own API over its unix socket, for one question: which IPv4 addresses do dockerd's
 * networks on the fan IPAM hold (container endpoints, gateways, aux addresses)? Any lease the plugin handed out
 * that is not among them was abandoned (dockerd died between RequestAddress and recording the endpoint).
 */
import { request } from 'node:http';
import { z } from 'zod';
import { type Ipv4, parseIpv4 } from '../core/address/ipv4.js';
import { FanError } from '../core/errors.js';

const ipamConfig = z
  .object({
    Gateway: z.string().nullish(),
    AuxiliaryAddresses: z.record(z.string(), z.string()).nullish(),
  })
  .passthrough();
const networkSummary = z
  .object({
    Id: z.string().regex(/^[0-9a-f]{64}$/),
    IPAM: z
      .object({ Driver: z.string().nullish(), Config: z.array(ipamConfig).nullish() })
      .passthrough()
      .nullish(),
  })
  .passthrough();
const networkDetail = networkSummary.extend({
  Containers: z.record(z.string(), z.object({ IPv4Address: z.string().nullish() }).passthrough()).nullish(),
});

/** The IPAM driver name networks use with the fan plugin. */
export const FAN_IPAM_DRIVER = 'fan';
const TIMEOUT_MS = 10_000;

function get(socket: string, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method: 'GET', timeout: TIMEOUT_MS }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        if (res.statusCode !== 200) {
          reject(
            new FanError(
              `dockerd answered ${res.statusCode ?? '?'} to GET ${path}: ${text.slice(0, 200)}`,
              `check that dockerd serves ${socket}`,
            ),
          );
          return;
        }
        try {
          resolve(JSON.parse(text) as unknown);
        } catch {
          reject(
            new FanError(`dockerd's answer to GET ${path} is not JSON`, `check that ${socket} is dockerd's socket`),
          );
        }
      });
    });
    req.on('timeout', () =>
      req.destroy(
        new FanError(`dockerd did not answer GET ${path} within ${TIMEOUT_MS} ms`, 'check that dockerd is running'),
      ),
    );
    req.on('error', (error) =>
      reject(
        error instanceof FanError
          ? error
          : new FanError(
              `cannot reach dockerd at ${socket}: ${error.message}`,
              'start dockerd, or pass --docker-socket',
            ),
      ),
    );
    req.end();
  });
}

function addressOf(text: string | null | undefined): Ipv4 | undefined {
  if (!text) return undefined;
  try {
    return parseIpv4(text.split('/')[0] ?? text);
  } catch {
    return undefined; // an IPv6 or malformed entry holds no fan lease
  }
}

/** The addresses held by dockerd's networks that use the fan IPAM. */
export async function dockerFanAddresses(socket: string): Promise<ReadonlySet<Ipv4>> {
  const list = z.array(networkSummary).safeParse(await get(socket, '/networks'));
  if (!list.success)
    throw new FanError(
      `dockerd's network list has an unexpected shape: ${list.error.issues[0]?.message ?? ''}`,
      'use Docker 20.10 or later',
    );
  const held = new Set<Ipv4>();
  for (const n of list.data.filter((x) => x.IPAM?.Driver === FAN_IPAM_DRIVER)) {
    const detail = networkDetail.safeParse(await get(socket, `/networks/${n.Id}`));
    if (!detail.success)
      throw new FanError(`dockerd's network ${n.Id.slice(0, 12)} has an unexpected shape`, 'use Docker 20.10 or later');
    const addresses = [
      ...Object.values(detail.data.Containers ?? {}).map((c) => c.IPv4Address),
      ...(detail.data.IPAM?.Config ?? []).flatMap((c) => [c.Gateway, ...Object.values(c.AuxiliaryAddresses ?? {})]),
    ];
    for (const a of addresses.map(addressOf)) if (a !== undefined) held.add(a);
  }
  return held;
}

/**
 * Docker's plugin protocol for libnetwork remote drivers (docs/protocols.md): request bodies as zod schemas, response
 * shapes, and the mapping from fan's errors to HTTP statuses. HTTP statuses exist only in src/docker (docs/architecture.md, errors).
 *
 * Docker 20.10 treats any non-2xx answer as a failure and shows `Err` to the user; an `Err` sent with status 200
 * is ignored by its IPAM client, so every error here goes out with a 4xx/5xx status.
 */
import { z } from 'zod';
import { ConfigError, FanError, errorMessage } from '../core/errors.js';
import { FanNotUpError } from '../core/attach/plan.js';
import { IpamError } from '../core/ipam/allocator.js';
import { EndpointMissingError } from '../app/docker.js';

/** The media type of plugin responses. */
export const PLUGIN_CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';

/** Docker sends `null` for empty maps and leaves out empty fields. */
const text = z.string().nullish().transform((s) => s ?? '');
const options = z.record(z.string(), z.unknown()).nullish().transform((o) => o ?? {});

export const requestPoolSchema = z.object({
  AddressSpace: text,
  Pool: text,
  SubPool: text,
  Options: options,
  V6: z.boolean().nullish().transform((v) => v ?? false),
});

export const releasePoolSchema = z.object({ PoolID: z.string().min(1) });

export const requestAddressSchema = z.object({
  PoolID: z.string().min(1),
  Address: text,
  Options: z.record(z.string(), z.string()).nullish().transform((o) => o ?? {}),
});

export const releaseAddressSchema = z.object({ PoolID: z.string().min(1), Address: z.string().min(1) });

const ipamData = z.object({
  AddressSpace: text,
  Pool: z.string().min(1),
  Gateway: text,
  AuxAddresses: z.record(z.string(), z.string()).nullish(),
});

export const createNetworkSchema = z.object({
  NetworkID: z.string().min(1),
  Options: options,
  IPv4Data: z.array(ipamData).nullish().transform((d) => d ?? []),
  IPv6Data: z.array(ipamData).nullish().transform((d) => d ?? []),
});

export const networkSchema = z.object({ NetworkID: z.string().min(1) });

export const createEndpointSchema = z.object({
  NetworkID: z.string().min(1),
  EndpointID: z.string().min(1),
  Interface: z
    .object({ Address: text, AddressIPv6: text, MacAddress: text })
    .nullish()
    .transform((i) => i ?? { Address: '', AddressIPv6: '', MacAddress: '' }),
  Options: options,
});

export const endpointSchema = z.object({ NetworkID: z.string().min(1), EndpointID: z.string().min(1) });

export const joinSchema = z.object({
  NetworkID: z.string().min(1),
  EndpointID: z.string().min(1),
  SandboxKey: text,
  Options: options,
});

/** Docker's option key for a gateway address request. */
export const GATEWAY_REQUEST = { key: 'RequestAddressType', value: 'com.docker.network.gateway' } as const;

/** An error that already carries its HTTP status (bad requests, unknown endpoints of the protocol). */
export class DockerProtocolError extends FanError {
  override name = 'DockerProtocolError';
  constructor(
    readonly status: number,
    message: string,
    hint?: string,
  ) {
    super(message, hint);
  }
}

/** Parses a request body; a body that does not fit is a 400 naming the fields. */
export function decode<T extends z.ZodTypeAny>(schema: T, call: string, body: unknown): z.output<T> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data as z.output<T>;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
  throw new DockerProtocolError(400, `malformed ${call} request: ${problems}`, 'this Docker speaks a plugin protocol fan does not know; use Docker 20.10 or later');
}

/** HTTP status for an error thrown while handling a call. */
export function statusOf(error: unknown): number {
  if (error instanceof DockerProtocolError) return error.status;
  if (error instanceof IpamError) return error.kind === 'exhausted' || error.kind === 'taken' ? 409 : 400;
  if (error instanceof EndpointMissingError) return 404;
  if (error instanceof FanNotUpError) return 503;
  if (error instanceof ConfigError) return 400;
  return 500;
}

export interface ErrorBody {
  readonly Err: string;
}

/** `{"Err": "fan: <problem> (fix: <hint>)"}`: what `docker` prints after "Error response from daemon:". */
export function errorBody(error: unknown): ErrorBody {
  if (error instanceof FanError) return { Err: `fan: ${error.message}${error.hint ? ` (fix: ${error.hint})` : ''}` };
  return { Err: `fan: unexpected error: ${errorMessage(error)}` };
}

/**
 * Docker's plugin protocol for libnetwork remote drivers (docs/protocols.md): request bodies as zod schemas, response
 * shapes, and the mapping from fan's errors to HTTP statuses. HTTP statuses exist only in src/docker
 * (docs/architecture.md, errors).
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
const text = z
  .string()
  .nullish()
  .transform((s) => s ?? '');
const options = z
  .record(z.string(), z.unknown())
  .nullish()
  .transform((o) => o ?? {});

/*
 * Identifiers that become an interface name, an alias, a lease key or a file name are checked here, at the edge,
 * so nothing further in can be steered by them: a pool id names a lease file (`<bridge>.json`), endpoint and
 * network ids go into a veth alias and name the veth, addresses become leases and nftables rules.
 */

/** Docker's network and endpoint ids: 64 lowercase hex digits (a sha256), and nothing else. */
const DOCKER_ID = /^[0-9a-f]{64}$/;
/** A fan bridge name (as `--bridge` accepts it): no `/`, never `.` or `..`. */
const BRIDGE = '(?!\\.\\.?:)[A-Za-z0-9_.-]{1,15}';
const CIDR = '\\d{1,3}(?:\\.\\d{1,3}){3}/\\d{1,2}';
/** `<bridge>:<slice>` or `<bridge>:<slice>:<ip range>` (src/core/attach/pools.ts). */
/** A pool of a policy group (`--ipam-opt fan.group=web`) ends in `@web`. */
const POOL_ID = new RegExp(`^${BRIDGE}:${CIDR}(?::${CIDR})?(?:@[a-z][a-z0-9_-]{0,30})?$`);
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const IPV4_PREFIX = /^\d{1,3}(?:\.\d{1,3}){3}(?:\/\d{1,2})?$/;
const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i;
/** Longest identifier echoed back in an error: a 1000-character id is not printed whole. */
const ECHO = 40;

const show = (value: string): string => JSON.stringify(value.length > ECHO ? `${value.slice(0, ECHO)}…` : value);

function validIpv4(value: string): boolean {
  return IPV4.test(value) && value.split('.').every((o) => Number(o) <= 255 && String(Number(o)) === o);
}

function validAddress(value: string): boolean {
  const [address = '', prefix] = value.split('/');
  return (
    IPV4_PREFIX.test(value) &&
    validIpv4(address) &&
    (prefix === undefined || (Number(prefix) <= 32 && String(Number(prefix)) === prefix))
  );
}

function validPoolId(value: string): boolean {
  if (!POOL_ID.test(value)) return false;
  const [, ...cidrs] = (value.split('@')[0] ?? '').split(':');
  return cidrs.every(validAddress);
}

/** A unicast MAC Docker may ask for: not multicast or broadcast (low bit of the first octet), not all zero. */
function validMac(value: string): boolean {
  if (!MAC.test(value)) return false;
  const first = parseInt(value.slice(0, 2), 16);
  return (first & 1) === 0 && !/^00(:00){5}$/.test(value);
}

function checked(test: (value: string) => boolean, what: string, expected: string) {
  return z
    .string({ required_error: `${what} is missing`, invalid_type_error: `${what} must be a string` })
    .superRefine((value, ctx) => {
      if (!test(value))
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${what} ${show(value)} is not ${expected}` });
    });
}

const dockerId = (what: string) => checked((v) => DOCKER_ID.test(v), what, 'a Docker id (64 lowercase hex digits)');
const networkId = dockerId('NetworkID');
const endpointId = dockerId('EndpointID');
const poolId = checked(validPoolId, 'PoolID', 'a fan pool id (<bridge>:<slice>, as RequestPool answered)');
const cidrText = (what: string) =>
  checked((v) => validAddress(v) && v.includes('/'), what, 'an IPv4 prefix (ADDRESS/LENGTH)');
/** An IPv4 address, or an empty field; Docker sends some with their prefix. */
const optionalAddress = (what: string) =>
  text.pipe(
    z.string().superRefine((value, ctx) => {
      if (value !== '' && !validAddress(value))
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${what} ${show(value)} is not an IPv4 address` });
    }),
  );
const optionalCidr = (what: string) =>
  text.pipe(
    z.string().superRefine((value, ctx) => {
      if (value !== '' && !(validAddress(value) && value.includes('/'))) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          message: `${what} ${show(value)} is not an IPv4 prefix (ADDRESS/LENGTH)`,
        });
      }
    }),
  );
const optionalMac = text.pipe(
  z.string().superRefine((value, ctx) => {
    if (value !== '' && !validMac(value)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message:
          `MacAddress ${show(value)} is not a unicast MAC address ` + `(six hex pairs, first octet even, not all zero)`,
      });
    }
  }),
);

export const requestPoolSchema = z.object({
  AddressSpace: text,
  Pool: text,
  SubPool: text,
  Options: options,
  V6: z
    .boolean()
    .nullish()
    .transform((v) => v ?? false),
});

export const releasePoolSchema = z.object({ PoolID: poolId });

export const requestAddressSchema = z.object({
  PoolID: poolId,
  Address: optionalAddress('Address'),
  Options: z
    .record(z.string(), z.string())
    .nullish()
    .transform((o) => o ?? {}),
});

export const releaseAddressSchema = z.object({
  PoolID: poolId,
  Address: checked(validAddress, 'Address', 'an IPv4 address'),
});

const ipamData = z.object({
  AddressSpace: text,
  Pool: cidrText('Pool'),
  Gateway: optionalCidr('Gateway'),
  AuxAddresses: z.record(z.string(), z.string()).nullish(),
});

export const createNetworkSchema = z.object({
  NetworkID: networkId,
  Options: options,
  IPv4Data: z
    .array(ipamData)
    .nullish()
    .transform((d) => d ?? []),
  IPv6Data: z
    .array(z.unknown())
    .nullish()
    .transform((d) => d ?? []),
});

export const networkSchema = z.object({ NetworkID: networkId });

export const createEndpointSchema = z.object({
  NetworkID: networkId,
  EndpointID: endpointId,
  Interface: z
    .object({ Address: optionalCidr('Interface.Address'), AddressIPv6: text, MacAddress: optionalMac })
    .nullish()
    .transform((i) => i ?? { Address: '', AddressIPv6: '', MacAddress: '' }),
  Options: options,
});

export const endpointSchema = z.object({ NetworkID: networkId, EndpointID: endpointId });

export const joinSchema = z.object({
  NetworkID: networkId,
  EndpointID: endpointId,
  SandboxKey: text,
  Options: options,
});

/** One `-p` of `docker run`, as Docker hands it to a remote driver (`com.docker.network.portmap`). */
const portBinding = z.object({
  Proto: z.number().int(),
  IP: text,
  Port: z.number().int(),
  HostIP: text,
  HostPort: z.number().int(),
  HostPortEnd: z
    .number()
    .int()
    .nullish()
    .transform((v) => v ?? 0),
});

export type PortBindingWire = z.output<typeof portBinding>;

export const PORTMAP_OPTION = 'com.docker.network.portmap';

export const externalConnectivitySchema = z.object({
  NetworkID: networkId,
  EndpointID: endpointId,
  Options: z
    .object({
      [PORTMAP_OPTION]: z
        .array(portBinding)
        .nullish()
        .transform((p) => p ?? []),
    })
    .passthrough()
    .nullish()
    .transform((o) => ({ portmap: o?.[PORTMAP_OPTION] ?? [] })),
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
  const custom = parsed.error.issues.filter((i) => i.code === z.ZodIssueCode.custom);
  const problems = parsed.error.issues.map((i) =>
    i.code === z.ZodIssueCode.custom ? i.message : `${i.path.join('.') || '(body)'}: ${i.message}`,
  );
  throw new DockerProtocolError(
    400,
    `malformed ${call} request: ${problems.join('; ')}`,
    custom.length > 0
      ? 'only dockerd should call this socket; send the identifiers Docker itself sends (see docs/docker.md)'
      : 'this Docker speaks a plugin protocol fan does not know; use Docker 20.10 or later',
  );
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

/**
 * The wire format between the CNI forwarder (the `fan` executable a runtime starts per call) and the agent
 * (`fanctl agent`), over a unix stream socket. One request and one response per connection; the agent closes the
 * connection after the response. Every field is length-prefixed, so neither side needs a parser beyond this file
 * (and its C twin, shim/fan-cni-forward.c):
 *
 *   request:  "FCQ1" | u32 N | N × (u32 len, "KEY=VALUE") | u32 len, stdin
 *   response: "FCR1" | i32 exit code | u32 len, stdout | u32 len, stderr
 *
 * Integers are big-endian. The environment carries the CNI_* variables only; the agent serves its own state dir.
 * Pure: Buffers in, values out.
 */
import { Buffer } from 'node:buffer';

export const REQUEST_MAGIC = 'FCQ1';
export const RESPONSE_MAGIC = 'FCR1';
/** Larger frames are refused (a netconf with prevResult is a few KiB). */
export const MAX_FRAME = 16 * 1024 * 1024;

export interface AgentRequest {
  readonly env: Readonly<Record<string, string>>;
  readonly stdin: string;
}

export interface AgentResponse {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The frame is malformed (not merely incomplete). */
export class FrameError extends Error {
  override name = 'FrameError';
}

/** The variables a forwarder passes on: the CNI parameters, nothing else of the runtime's environment. */
export function forwardedEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (key.startsWith('CNI_') && value !== undefined) out[key] = value;
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function field(text: string): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  return [u32(bytes.length), bytes];
}

export function encodeRequest(req: AgentRequest): Buffer {
  const entries = Object.entries(req.env).map(([k, v]) => `${k}=${v}`);
  return Buffer.concat([
    Buffer.from(REQUEST_MAGIC),
    u32(entries.length),
    ...entries.flatMap(field),
    ...field(req.stdin),
  ]);
}

export function encodeResponse(res: AgentResponse): Buffer {
  const code = Buffer.alloc(4);
  code.writeInt32BE(res.exitCode);
  return Buffer.concat([Buffer.from(RESPONSE_MAGIC), code, ...field(res.stdout), ...field(res.stderr)]);
}

/** Reads fields from a buffer that may end early: `undefined` means "wait for more bytes". */
class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}

  magic(expected: string): boolean | undefined {
    if (this.buf.length < expected.length) {
      if (!Buffer.from(expected).subarray(0, this.buf.length).equals(this.buf))
        throw new FrameError(`not a fan agent frame (expected ${expected})`);
      return undefined;
    }
    if (this.buf.toString('latin1', 0, expected.length) !== expected)
      throw new FrameError(`not a fan agent frame (expected ${expected})`);
    this.at = expected.length;
    return true;
  }

  u32(): number | undefined {
    if (this.buf.length < this.at + 4) return undefined;
    const n = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return n;
  }

  i32(): number | undefined {
    if (this.buf.length < this.at + 4) return undefined;
    const n = this.buf.readInt32BE(this.at);
    this.at += 4;
    return n;
  }

  text(): string | undefined {
    const len = this.u32();
    if (len === undefined) return undefined;
    if (len > MAX_FRAME) throw new FrameError(`field of ${len} bytes is over the ${MAX_FRAME}-byte limit`);
    if (this.buf.length < this.at + len) return undefined;
    const text = this.buf.toString('utf8', this.at, this.at + len);
    this.at += len;
    return text;
  }

  get consumed(): number {
    return this.at;
  }
}

/** The request in `buf`, `undefined` while it is incomplete; throws FrameError when it cannot be one. */
export function decodeRequest(buf: Buffer): { request: AgentRequest; length: number } | undefined {
  if (buf.length > MAX_FRAME) throw new FrameError(`request over ${MAX_FRAME} bytes`);
  const r = new Reader(buf);
  if (r.magic(REQUEST_MAGIC) === undefined) return undefined;
  const count = r.u32();
  if (count === undefined) return undefined;
  if (count > 4096) throw new FrameError(`request with ${count} environment entries`);
  const env: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    const entry = r.text();
    if (entry === undefined) return undefined;
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new FrameError(`environment entry "${entry.slice(0, 40)}" is not KEY=VALUE`);
    env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  const stdin = r.text();
  if (stdin === undefined) return undefined;
  return { request: { env, stdin }, length: r.consumed };
}

export function decodeResponse(buf: Buffer): AgentResponse | undefined {
  const r = new Reader(buf);
  if (r.magic(RESPONSE_MAGIC) === undefined) return undefined;
  const exitCode = r.i32();
  if (exitCode === undefined) return undefined;
  const stdout = r.text();
  if (stdout === undefined) return undefined;
  const stderr = r.text();
  if (stderr === undefined) return undefined;
  return { exitCode, stdout, stderr };
}

/**
 * Kernel tools started through fan-exec (shim/fan-exec.c), a small resident process, instead of Node's spawn().
 *
 * Node starts a child with fork(), which blocks its one thread while the kernel copies the page tables of the
 * whole process: 3-5 ms per child for the agent on a small host, more than most of the tools take to run, and
 * the agent runs three to six of them per container attach. fan-exec is small and starts children with
 * posix_spawn() (a vfork-style clone): well under a millisecond, and the Node process never waits for it.
 *
 * The helper is started on first use, runs requests concurrently, and keeps the Node process alive only while a
 * request is pending. It is used when the binary exists (built with clang by scripts/build-shim.mjs, installed by
 * the fan-cni-forward package) and FAN_EXEC_HELPER is not `off`; FAN_EXEC_HELPER may also name the binary.
 * A helper that dies fails the requests it held (exit 125: the command may or may not have run) and is started
 * again for the next request.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/** How a command ended, as fan-exec reports it. */
export type HelperOutcome =
  | { readonly kind: 'exited'; readonly code: number }
  | { readonly kind: 'signalled'; readonly signal: string }
  | { readonly kind: 'timed-out' }
  | { readonly kind: 'not-started'; readonly error: string }
  | { readonly kind: 'helper-died' };

export interface HelperResult {
  readonly outcome: HelperOutcome;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

const signalNames = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name]));
const errnoNames = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** One request frame (little-endian; see shim/fan-exec.c). */
export function encodeRequest(id: number, argv: readonly string[], input: string, timeoutMs: number): Buffer {
  const args = argv.map((a) => Buffer.from(`${a}\0`, 'utf8'));
  const stdin = Buffer.from(input, 'utf8');
  const head = Buffer.alloc(16);
  const size = 12 + args.reduce((n, a) => n + a.length, 0) + 4 + stdin.length;
  head.writeUInt32LE(size, 0);
  head.writeUInt32LE(id, 4);
  head.writeUInt32LE(Math.max(0, Math.min(timeoutMs, 0xffffffff)), 8);
  head.writeUInt32LE(argv.length, 12);
  const stdinLength = Buffer.alloc(4);
  stdinLength.writeUInt32LE(stdin.length, 0);
  return Buffer.concat([head, ...args, stdinLength, stdin]);
}

/** Splits complete response frames off `buffer`; returns them and what is left. */
export function decodeResponses(buffer: Buffer): { responses: { id: number; result: HelperResult }[]; rest: Buffer } {
  const responses: { id: number; result: HelperResult }[] = [];
  let at = 0;
  while (buffer.length - at >= 4) {
    const size = buffer.readUInt32LE(at);
    if (buffer.length - at - 4 < size) break;
    const frame = buffer.subarray(at + 4, at + 4 + size);
    const id = frame.readUInt32LE(0);
    const status = frame.readUInt32LE(4);
    const value = frame.readInt32LE(8);
    const outLength = frame.readUInt32LE(12);
    const stdout = Buffer.from(frame.subarray(16, 16 + outLength));
    const errLength = frame.readUInt32LE(16 + outLength);
    const stderr = Buffer.from(frame.subarray(20 + outLength, 20 + outLength + errLength));
    const outcome: HelperOutcome =
      status === 0
        ? { kind: 'exited', code: value }
        : status === 1
          ? { kind: 'signalled', signal: signalNames.get(value) ?? `signal ${value}` }
          : status === 2
            ? { kind: 'timed-out' }
            : { kind: 'not-started', error: errnoNames.get(value) ?? `errno ${value}` };
    responses.push({ id, result: { outcome, stdout, stderr } });
    at += 4 + size;
  }
  return { responses, rest: buffer.subarray(at) };
}

type Helper = ChildProcessByStdio<Writable, Readable, null>;

export class ExecHelper {
  private child: Helper | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, (result: HelperResult) => void>();
  private buffered: Buffer = Buffer.alloc(0);

  constructor(readonly path: string) {}

  run(argv: readonly string[], input: string, timeoutMs = 0): Promise<HelperResult> {
    const child = this.child ?? this.start();
    const id = this.nextId;
    this.nextId = this.nextId >= 0xfffffffe ? 1 : this.nextId + 1;
    return new Promise<HelperResult>((resolve) => {
      this.pending.set(id, resolve);
      if (this.pending.size === 1) this.hold(child, true);
      child.stdin.write(encodeRequest(id, argv, input, timeoutMs));
    });
  }

  private start(): Helper {
    const child = spawn(this.path, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child = child;
    this.buffered = Buffer.alloc(0);
    child.stdout.on('data', (chunk: Buffer) => {
      const { responses, rest } = decodeResponses(Buffer.concat([this.buffered, chunk]));
      this.buffered = rest;
      for (const { id, result } of responses) this.settle(id, result);
    });
    child.stdin.on('error', () => undefined); // reported through 'exit'
    child.on('error', () => this.lost(child));
    child.on('exit', () => this.lost(child));
    this.hold(child, false);
    return child;
  }

  private settle(id: number, result: HelperResult): void {
    const resolve = this.pending.get(id);
    if (!resolve) return;
    this.pending.delete(id);
    resolve(result);
    if (this.pending.size === 0 && this.child) this.hold(this.child, false);
  }

  /** The helper keeps the event loop alive only while a request waits for it. */
  private hold(child: Helper, held: boolean): void {
    const pipes = [child.stdin, child.stdout].filter((s): s is Socket => s instanceof Socket);
    for (const handle of [child, ...pipes]) {
      if (held) handle.ref();
      else handle.unref();
    }
  }

  private lost(child: Helper): void {
    if (this.child !== child) return;
    this.child = undefined;
    const waiting = [...this.pending.keys()];
    for (const id of waiting)
      this.settle(id, { outcome: { kind: 'helper-died' }, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) });
  }
}

const BUILT = fileURLToPath(new URL('../../../build/bin/fan-exec', import.meta.url));

let shared: ExecHelper | null | undefined;

/** The process's helper, or undefined when commands are to be spawned directly. */
export function execHelper(env: NodeJS.ProcessEnv = process.env): ExecHelper | undefined {
  if (shared === undefined) {
    const setting = env['FAN_EXEC_HELPER'];
    const path = setting === undefined || setting === '' ? BUILT : setting;
    shared = setting !== 'off' && existsSync(path) ? new ExecHelper(path) : null;
  }
  return shared ?? undefined;
}

/**
 * The one place fan spawns processes. Failures become KernelCommandError carrying the argv, a copy-pasteable
 * command line, the network namespace, the exit code and stderr, so an operator can rerun exactly what failed.
 *
 * Built on node:child_process rather than execa: loading execa costs ~110 ms, paid by every CNI call (hundreds at
 * once when a node starts pods), while everything fan needs (argv only, no shell, stdin text, timeout, captured
 * output) is a few lines here.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { FanError } from '../core/errors.js';
import type { CommandRunner, RunOptions, RunResult } from '../ports/runner.js';
import { type ExecHelper, execHelper } from './exec-helper.js';

export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export class KernelCommandError extends FanError {
  override name = 'KernelCommandError';
  constructor(
    readonly argv: readonly string[],
    readonly commandExitCode: number,
    readonly stderr: string,
    readonly netns?: string,
  ) {
    super(
      `command failed (exit ${commandExitCode}): ` +
        `${shellQuote(argv)}${stderr.trim() ? `\n  ${stderr.trim().split('\n').join('\n  ')}` : ''}`,
    );
  }
}

/** Runs commands in the current namespace, or in a named one through `ip netns exec`. */
export class ExecRunner implements CommandRunner {
  constructor(readonly netns?: string) {}

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const full = this.netns === undefined ? [...argv] : ['ip', 'netns', 'exec', this.netns, ...argv];
    const [file, ...args] = full;
    if (file === undefined) throw new FanError('empty command');
    const out = await runChild(file, args, options);
    if (out.exitCode !== 0 && !options.allowFailure) {
      throw new KernelCommandError(full, out.exitCode, out.stderr, this.netns);
    }
    return out;
  }
}

/**
 * Runs without a shell and collects the outputs; a missing program is exit 127, a timeout kills and is 124.
 * Through fan-exec when it is there (exec-helper.ts: no fork of this process), else spawned from here.
 */
function runChild(file: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const helper = execHelper();
  return helper ? runThrough(helper, file, args, options) : spawnChild(file, args, options);
}

async function runThrough(
  helper: ExecHelper,
  file: string,
  args: readonly string[],
  options: RunOptions,
): Promise<RunResult> {
  const { outcome, stdout, stderr } = await helper.run([file, ...args], options.input ?? '', options.timeoutMs);
  const result = (exitCode: number, extra = ''): RunResult => ({
    stdout: stdout.toString('utf8'),
    stderr: stderr.toString('utf8') + extra,
    exitCode,
  });
  switch (outcome.kind) {
    case 'exited':
      return result(outcome.code);
    case 'signalled':
      return result(128, `${file}: killed by ${outcome.signal}`);
    case 'timed-out':
      return result(124, `${file}: timed out after ${options.timeoutMs} ms`);
    case 'not-started':
      return result(127, `${file}: ${outcome.error === 'ENOENT' ? 'command not found' : outcome.error}`);
    case 'helper-died':
      return result(125, `${file}: fan-exec (${helper.path}) exited while it ran; the command may have run`);
  }
}

function spawnChild(file: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, options.timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stdin?.on('error', () => undefined); // the program may exit before reading all its input
    child.stdin?.end(options.input);
    const finish = (exitCode: number, extra = ''): void => {
      if (timer) clearTimeout(timer);
      resolve({
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8') + extra,
        exitCode,
      });
    };
    child.on('error', (error: NodeJS.ErrnoException) =>
      finish(127, `${file}: ${error.code === 'ENOENT' ? 'command not found' : error.message}`),
    );
    child.on('close', (code, signal) => {
      if (timedOut) finish(124, `${file}: timed out after ${options.timeoutMs} ms`);
      else finish(code ?? (signal ? 128 : 1), signal && code === null ? `${file}: killed by ${signal}` : '');
    });
  });
}

/** A long-running process started by `startProcess`. */
export interface BackgroundProcess {
  readonly argv: readonly string[];
  readonly pid: number;
  /** Settles when the process has exited: its exit code, or the signal that ended it. */
  readonly exited: Promise<{ readonly exitCode?: number; readonly signal?: string }>;
  /** True until `exited` settles. */
  running(): boolean;
}

export interface StartOptions {
  /** Extra environment variables (added to this process's). */
  readonly env?: Readonly<Record<string, string>>;
  /** File that receives stdout and stderr (appended). */
  readonly logFile: string;
}

/**
 * Starts a daemon-like process (argv only, never through a shell) in its own process group, with stdin closed and
 * both outputs appended to `logFile`. The caller owns the process: it stops it by its pid.
 */
export function startProcess(argv: readonly string[], options: StartOptions): BackgroundProcess {
  const [file, ...args] = argv;
  if (file === undefined) throw new FanError('empty command');
  const log = openSync(options.logFile, 'a');
  let child;
  try {
    child = spawn(file, args, {
      detached: true,
      stdio: ['ignore', log, log],
      ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
    });
  } finally {
    closeSync(log); // the child holds its own copy
  }
  const pid = child.pid;
  if (pid === undefined) throw new KernelCommandError([...argv], 127, `could not start ${file}`);
  child.unref();
  let alive = true;
  const exited = new Promise<{ readonly exitCode?: number; readonly signal?: string }>((resolve) => {
    child.on('exit', (code, signal) => {
      alive = false;
      resolve({ ...(code !== null ? { exitCode: code } : {}), ...(signal ? { signal } : {}) });
    });
  });
  return { argv: [...argv], pid, exited, running: () => alive };
}

/**
 * The one place fan spawns processes. Failures become KernelCommandError carrying the argv, a copy-pasteable
 * command line, the network namespace, the exit code and stderr, so an operator can rerun exactly what failed.
 */
import { execa } from 'execa';
import { FanError } from '../core/errors.js';
import type { CommandRunner, RunOptions, RunResult } from '../ports/runner.js';

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
    super(`command failed (exit ${commandExitCode}): ${shellQuote(argv)}${stderr.trim() ? `\n  ${stderr.trim().split('\n').join('\n  ')}` : ''}`);
  }
}

/** Runs commands in the current namespace, or in a named one through `ip netns exec`. */
export class ExecRunner implements CommandRunner {
  constructor(readonly netns?: string) {}

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const full = this.netns === undefined ? [...argv] : ['ip', 'netns', 'exec', this.netns, ...argv];
    const [file, ...args] = full;
    if (file === undefined) throw new FanError('empty command');
    const result = await execa(file, args, {
      reject: false,
      stripFinalNewline: false,
      ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
      ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
    });
    const exitCode = result.exitCode ?? (result.failed ? 127 : 0);
    const out: RunResult = { stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? result.message ?? ''), exitCode };
    if (exitCode !== 0 && !options.allowFailure) {
      throw new KernelCommandError(full, exitCode, out.stderr || (result.failed ? (result.message ?? '') : ''), this.netns);
    }
    return out;
  }
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
  const child = execa(file, args, {
    reject: false,
    detached: true,
    cleanup: false,
    stdin: 'ignore',
    stdout: { file: options.logFile, append: true },
    stderr: { file: options.logFile, append: true },
    ...(options.env ? { env: options.env } : {}),
  });
  const pid = child.pid;
  if (pid === undefined) throw new KernelCommandError([...argv], 127, `could not start ${file}`);
  let alive = true;
  const exited = child.then((result) => {
    alive = false;
    return { ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}), ...(result.signal ? { signal: result.signal } : {}) };
  });
  return { argv: [...argv], pid, exited, running: () => alive };
}

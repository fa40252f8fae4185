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

#!/usr/bin/env node
/** Composition root for fanctl: wires the kernel adapters into the CLI and maps errors to exit codes. */
import { CommanderError } from 'commander';
import { buildProgram } from '../cli/program.js';
import { FanError, InternalError, errorMessage } from '../core/errors.js';
import { ExecRunner } from '../kernel/exec.js';
import { nodeTextFiles } from '../kernel/files.js';
import { IpHostReader } from '../kernel/host-reader.js';
import { Dataplane } from '../kernel/dataplane.js';
import { fanPaths } from '../app/paths.js';
import { IpSandboxLinks } from '../kernel/sandbox-links.js';

const output = {
  out: (s: string) => void process.stdout.write(s),
  err: (s: string) => void process.stderr.write(s),
};

async function main(argv: readonly string[]): Promise<number> {
  const runner = new ExecRunner();
  const host = new IpHostReader(runner);
  const paths = fanPaths(process.env);
  const program = buildProgram({
    output,
    host,
    files: nodeTextFiles,
    env: process.env,
    hostDeps: () => ({
      runner,
      host,
      paths,
      dataplane: new Dataplane(runner, { bpfObject: paths.bpfObject, stateDir: paths.stateDir }),
      log: process.env.FAN_VERBOSE ? (line) => output.err(`fanctl: ${line}\n`) : () => {},
    }),
    hostVeths: () => new IpSandboxLinks(runner, process.pid),
    untilStopped: () =>
      new Promise<string>((resolve) => {
        const stop = (signal: NodeJS.Signals): void => {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          resolve(signal);
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      }),
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    return reportError(error);
  }
}

/**
 * The one place errors become output: one line with the problem, one with the fix, never a stack trace unless
 * FAN_DEBUG is set (a stack trace tells an operator nothing and hides the message).
 */
function reportError(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2; // commander printed the usage error
  const debug = process.env.FAN_DEBUG ? `${error instanceof Error ? (error.stack ?? '') : ''}\n` : '';
  if (error instanceof InternalError) {
    output.err(`fanctl: internal error (this is a bug, please report it): ${oneLine(error.message)}\n${debug}`);
    return error.exitCode;
  }
  if (error instanceof FanError) {
    output.err(`fanctl: ${error.message}\n`);
    if (error.hint) output.err(`  fix: ${error.hint}\n`);
    output.err(debug);
    return error.exitCode;
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  output.err(`fanctl: unexpected error${code ? ` (${code})` : ''}: ${oneLine(errorMessage(error))}\n`);
  output.err('  fix: this is likely a bug in fanctl: report it with the command line; FAN_DEBUG=1 prints the stack trace\n');
  output.err(debug);
  return 1;
}

const oneLine = (text: string): string => text.split('\n')[0] ?? '';

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  // Building the adapters failed (before the command ran): still one clear line.
  process.exitCode = reportError(error);
}

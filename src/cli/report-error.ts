/**
 * How fanctl reports an error: the problem on one line, the fix on the next, never a stack trace unless `debug`
 * (FAN_DEBUG) asks for one. Returns the exit code. Used by src/bin/fanctl.ts and by the CLI's tests.
 */
import { CommanderError } from 'commander';
import { FanError, InternalError, errorMessage } from '../core/errors.js';
import type { Output } from './output.js';

const oneLine = (text: string): string => text.split('\n')[0] ?? '';

export function reportError(error: unknown, output: Output, debug = false): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2; // commander printed the usage error
  const stack = debug && error instanceof Error && error.stack ? `${error.stack}\n` : '';
  if (error instanceof InternalError) {
    output.err(`fanctl: internal error (this is a bug, please report it): ${oneLine(error.message)}\n`);
    output.err(
      `  fix: ${error.hint ?? 'report it with the command line; FAN_DEBUG=1 prints the stack trace'}\n${stack}`,
    );
    return error.exitCode;
  }
  if (error instanceof FanError) {
    output.err(`fanctl: ${error.message}\n`);
    if (error.hint) output.err(`  fix: ${error.hint}\n`);
    output.err(stack);
    return error.exitCode;
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  output.err(
    `fanctl: unexpected error${typeof code === 'string' ? ` (${code})` : ''}: ${oneLine(errorMessage(error))}\n`,
  );
  output.err(
    `  fix: this is likely a bug in fanctl: report it with the command line; ` +
      `FAN_DEBUG=1 prints the stack trace\n${stack}`,
  );
  return 1;
}

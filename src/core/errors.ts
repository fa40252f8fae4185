/**
 * Errors that reach the user. Every error names the problem and, where one exists, the fix (`hint`).
 * Commands throw; only the composition roots in src/bin turn errors into exit codes.
 */
export class FanError extends Error {
  override name = 'FanError';
  /** Process exit code used by the CLI. */
  readonly exitCode: number = 1;
  constructor(
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Bad input: arguments, config files, addresses. Nothing has been changed on the host. */
export class ConfigError extends FanError {
  override name = 'ConfigError';
  override readonly exitCode = 2;
}

/** The host lacks something fan needs (kernel feature, tool, object). */
export class PrerequisiteError extends FanError {
  override name = 'PrerequisiteError';
  override readonly exitCode = 3;
}

/** The host's state forbids the operation (e.g. containers still attached). */
export class StateError extends FanError {
  override name = 'StateError';
  override readonly exitCode = 4;
}

/**
 * Another fan process holds what this one needs (a lock), for longer than this one waits: nothing was changed,
 * and the same call will succeed later. Exit code 75 is sysexits' EX_TEMPFAIL; CNI reports it as code 11.
 */
export class BusyError extends FanError {
  override name = 'BusyError';
  override readonly exitCode = 75;
}

/** A bug in fan itself. */
export class InternalError extends FanError {
  override name = 'InternalError';
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

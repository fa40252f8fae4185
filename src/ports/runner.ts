/** Running kernel tools (ip, tc, nft, bpftool, …). The only implementation that spawns lives in src/kernel. */
export interface RunOptions {
  /** Text fed to the command's standard input (e.g. an `nft -f -` script). */
  readonly input?: string;
  /** Return a failed result instead of throwing. */
  readonly allowFailure?: boolean;
  readonly timeoutMs?: number;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

export interface CommandRunner {
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
}

/** The bench's option defaults, apart from the modules that measure, so fanctl's command table loads none of them. */
export interface CniBenchOptions {
  readonly runs: number;
  readonly sequential: number;
  readonly concurrent: number;
  /** Sequential ADD/DELs of the plugin without its agent (slow: a Node.js start each). */
  readonly inProcess: number;
}

export const DEFAULT_CNI_BENCH: CniBenchOptions = { runs: 3, sequential: 100, concurrent: 200, inProcess: 10 };

/** Where fan's files are, overridable per process (the lab gives each simulated host its own state dir). */
import { fileURLToPath } from 'node:url';
import { DEFAULT_STATE_DIR } from '../store/fan-state.js';

const packageRoot = fileURLToPath(new URL('../../../', import.meta.url));

export interface FanPaths {
  readonly stateDir: string;
  readonly bpfObject: string;
  readonly packageRoot: string;
}

export function fanPaths(env: Readonly<Record<string, string | undefined>>): FanPaths {
  return {
    stateDir: env.FAN_STATE_DIR ?? DEFAULT_STATE_DIR,
    bpfObject: env.FAN_BPF_OBJECT ?? `${packageRoot}build/bpf/fan.bpf.o`,
    packageRoot,
  };
}

/**
 * The kernel side of `fanctl up/down/show`: reads the host (src/kernel/read.ts) and applies operations with exact
 * rollback (src/kernel/apply.ts). It decides nothing: what to do comes from src/core/plan.
 */
import type { CurrentHost, DhcpSpec } from '../core/model/host-state.js';
import type { Op } from '../core/plan/ops.js';
import type { CommandRunner } from '../ports/runner.js';
import type { System } from '../ports/system.js';
import { applyOps } from './apply.js';
import { syncFastPath } from './fastpath.js';
import { BpfTables } from './bpf.js';
import { type HostSnapshot, readHost } from './read.js';
import { nodeSystem } from './system.js';

export interface DataplaneOptions {
  /** Compiled bpf/fan.bpf.c. */
  readonly bpfObject: string;
  readonly stateDir: string;
}

export type { DhcpSpec };

export class Dataplane {
  readonly bpf: BpfTables;

  constructor(
    private readonly runner: CommandRunner,
    private readonly options: DataplaneOptions,
    private readonly system: System = nodeSystem,
  ) {
    this.bpf = new BpfTables(runner);
  }

  /** Facts and fan's objects, from one set of listings. */
  readHost(): Promise<HostSnapshot> {
    return readHost(this.runner, this.bpf, this.system, this.options.stateDir);
  }

  async readCurrent(): Promise<CurrentHost> {
    return (await this.readHost()).current;
  }

  async apply(ops: readonly Op[], log: (line: string) => void = () => {}): Promise<void> {
    const context = { runner: this.runner, bpf: this.bpf, system: this.system, ...this.options };
    await applyOps(ops, context, log);
    // A fast path's programs start switched off: once their tables are written, switch them on unless a policy is
    // loaded (one look for the whole apply, not one per table written).
    if (ops.some((op) => op.kind === 'overlay-table' || op.kind === 'tc-attach')) await syncFastPath(this.runner);
  }
}

#!/usr/bin/env node
/** Composition root for fanctl: wires the kernel adapters into the CLI and maps errors to exit codes. */
import { CommanderError } from 'commander';
import { buildProgram } from '../cli/program.js';
import { FanError, InternalError } from '../core/errors.js';
import { ExecRunner } from '../kernel/exec.js';
import { nodeTextFiles } from '../kernel/files.js';
import { IpHostReader } from '../kernel/host-reader.js';
import { Dataplane } from '../kernel/dataplane.js';
import { fanPaths } from '../app/paths.js';
import { NftPortTable } from '../kernel/port-table.js';
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
      files: nodeTextFiles,
      paths,
      dataplane: new Dataplane(runner, { bpfObject: paths.bpfObject, stateDir: paths.stateDir }),
      log: process.env.FAN_VERBOSE ? (line) => output.err(`fanctl: ${line}\n`) : () => {},
    }),
    hostVeths: () => new IpSandboxLinks(runner, process.pid),
    portTable: () => new NftPortTable(runner),
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
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof InternalError) {
      output.err(`fanctl: internal error (this is a bug, please report it): ${error.message}\n${error.stack ?? ''}\n`);
      return error.exitCode;
    }
    if (error instanceof FanError) {
      output.err(`fanctl: ${error.message}\n`);
      if (error.hint) output.err(`  fix: ${error.hint}\n`);
      return error.exitCode;
    }
    output.err(`fanctl: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));

/**
 * The one command runner the lab and its tests share: commands in the root namespace (`root`) or inside a lab
 * namespace (`inNs`). The lab creates only namespaces under its prefix; everything it runs goes through here.
 */
import { ExecRunner } from '../kernel/exec.js';
import type { CommandRunner } from '../ports/runner.js';

export const root: CommandRunner = new ExecRunner();

const byNs = new Map<string, CommandRunner>();

/** A runner for commands inside the network namespace `ns` (`ip netns exec ns …`). */
export function inNs(ns: string): CommandRunner {
  let runner = byNs.get(ns);
  if (!runner) {
    runner = new ExecRunner(ns);
    byNs.set(ns, runner);
  }
  return runner;
}

/** The standard output of a command run inside `ns`. */
export async function outputIn(ns: string, argv: readonly string[]): Promise<string> {
  return (await inNs(ns).run(argv)).stdout;
}

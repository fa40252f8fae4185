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

/** One end of a veth pair the lab creates: its name and the namespace it goes to. */
export interface VethEnd {
  readonly name: string;
  readonly ns: string;
}

/** Creates a veth pair with both ends already in their namespaces and with the same MTU (one `ip` call). */
export async function createLabVeth(a: VethEnd, b: VethEnd, mtu: number): Promise<void> {
  const m = String(mtu);
  await root.run(
    ['ip', 'link', 'add', a.name, 'netns', a.ns, 'mtu', m, 'type', 'veth'].concat([
      'peer',
      'name',
      b.name,
      'netns',
      b.ns,
      'mtu',
      m,
    ]),
  );
}

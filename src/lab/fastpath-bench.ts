/**
 * For the bench suite: switches the vxlan-fast programs of every lab host on or off in place, so one lab measures
 * the fast path and the kernel path it falls back to side by side (same hosts, same containers, same run).
 * Usage: `await setLabFastPath(topo, false)` before the kernel-path runs, `await setLabFastPath(topo, true)` after.
 */
import { ExecRunner } from '../kernel/exec.js';
import { setFastPath, syncFastPath } from '../kernel/fastpath.js';
import type { LabTopology } from './topology.js';

export async function setLabFastPath(topo: LabTopology, on: boolean): Promise<void> {
  for (const host of topo.hosts) {
    const runner = new ExecRunner(host.ns);
    // On means "as fanctl would have it": still off while a policy is loaded.
    await (on ? syncFastPath(runner) : setFastPath(runner, false));
  }
}

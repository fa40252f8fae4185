/**
 * The tc shared block of a fast path's bridge. Its transmitting program goes into the block once, and the bridge
 * and every container port (the host end of a container's veth) bind their clsact ingress to it, so the program
 * sees a container's packet on its port, before the bridge, with no per-container program to load.
 *
 * The index is the address of the fan's slice on this host: fans on one host have disjoint slices, so each bridge
 * gets its own block, and the attach paths compute it from the fan alone, without asking the kernel.
 */
import type { Fan } from '../core/config/resolve.js';

export function portBlock(fan: Fan): number {
  return fan.host.slice.address >>> 0;
}

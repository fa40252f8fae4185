/**
 * The IPAM side of keeping containers' host veths across `up` and `down` (the planning is src/core/plan/ports.ts):
 * the lease tables say where a veth cut off from its bridge belongs, and the tables of a fan that goes down are
 * forgotten (all of it with --force, which detached its containers; otherwise only a table with no lease left).
 */
import type { LinkState } from '../core/model/host-state.js';
import { type VethHome, vethHomes } from '../core/plan/ports.js';
import type { Lease } from '../ports/leases.js';
import { RELEASE_LOCK_WAIT_MS, leaseBridges, openLeaseStoreByBridge } from '../store/lease-file.js';
import { withLock } from '../store/lock.js';
import { rm } from 'node:fs/promises';
import type { CommandRunner } from '../ports/runner.js';
import { NftPortBinder } from './port-bindings.js';

/** A deleted veth's port binding (the anti-spoofing list) goes with it. */
export function unbindPort(stateDir: string, runner: CommandRunner, dev: string): Promise<void> {
  return new NftPortBinder(runner, stateDir).unbind(dev);
}

export async function readVethHomes(stateDir: string, links: readonly LinkState[]): Promise<VethHome[]> {
  const tables = await Promise.all(
    (await leaseBridges(stateDir)).map(async (bridge) => ({
      bridge,
      leases: await openLeaseStoreByBridge(stateDir, bridge).list(),
    })),
  );
  return vethHomes(links, tables);
}

/** Removes the lease table of `bridge` (its fan is down): always with `all`, else only when no lease is left. */
export async function forgetLeaseTable(stateDir: string, bridge: string, all: boolean): Promise<Lease[]> {
  if (!(await leaseBridges(stateDir)).includes(bridge)) return [];
  const store = openLeaseStoreByBridge(stateDir, bridge);
  return withLock(
    store.lockPath,
    async () => {
      const leases = await store.list();
      if (leases.length > 0 && !all) return [];
      await rm(store.path, { force: true });
      return leases;
    },
    RELEASE_LOCK_WAIT_MS,
  );
}

/**
 * The IPAM pool of a policy group for runtimes that name the group on a network (Docker's `fan.group`): the fan's
 * pool narrowed to the group's index range in the policy applied on this host. The errors say what to do: apply a
 * policy first, or use one of the groups it defines.
 */
import type { Fan } from '../core/config/resolve.js';
import { ConfigError } from '../core/errors.js';
import { type IpamPool, poolOf } from '../core/ipam/pool.js';
import { groupPool, ungroupedPool } from '../core/policy/group-pool.js';
import { parsePolicy } from '../core/policy/parse.js';
import { PolicyStateStore } from '../store/policy-state.js';

export async function appliedGroupPool(stateDir: string, fan: Fan, group: string): Promise<IpamPool> {
  const store = new PolicyStateStore(stateDir);
  const text = await store.readText();
  if (text === undefined)
    throw new ConfigError(
      `group "${group}" was asked for (fan.group=${group}), but no policy is applied on this host`,
      `apply a policy that defines it first, e.g. groups: { ${group}: { index: 10-19 } } (fanctl policy apply FILE)`,
    );
  const policy = parsePolicy(text, (await store.readRecord())?.source ?? 'applied policy');
  return groupPool(poolOf(fan), policy, group);
}

/** The pool of a network that names no group: the fan's pool without the applied policy's group ranges. */
export async function appliedUngroupedPool(stateDir: string, fan: Fan): Promise<IpamPool> {
  const store = new PolicyStateStore(stateDir);
  const text = await store.readText();
  if (text === undefined) return poolOf(fan);
  const policy = parsePolicy(text, (await store.readRecord())?.source ?? 'applied policy');
  return ungroupedPool(poolOf(fan), policy) ?? poolOf(fan);
}

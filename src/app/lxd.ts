/**
 * `fanctl lxd enable|disable` (Ubuntu's `fanatic enable-lxd/disable-lxd`): read the fan and LXD's profiles, plan,
 * then apply through the `lxc` client. Enable is idempotent (a second run changes nothing); a profile created by a
 * run that fails half-way is deleted again.
 */
import type { Fan } from '../core/config/resolve.js';
import { parseOverlay } from '../core/config/fan-spec.js';
import { selectFan } from '../core/attach/plan.js';
import { bridgeNameOf } from '../core/mapping/fan.js';
import {
  type DisablePlan,
  type EnablePlan,
  checkProfileName,
  lxdProfile,
  planDisable,
  planEnable,
} from '../lxd/profile.js';
import type { LxdProfiles } from '../ports/lxd.js';
import type { FanView } from './fans.js';

export interface LxdDeps {
  readonly fans: () => Promise<FanView>;
  readonly profiles: LxdProfiles;
}

export interface LxdEnableReport extends EnablePlan {
  readonly bridge: string;
  readonly warnings: readonly string[];
}

export async function enableLxd(opts: { overlay?: string; profile?: string }, deps: LxdDeps): Promise<LxdEnableReport> {
  const view = await deps.fans();
  const fan: Fan = selectFan(view.fans, opts.overlay === undefined ? {} : { overlay: opts.overlay });
  const desired = lxdProfile(fan, opts.profile);
  const plan = planEnable(desired, await deps.profiles.list());
  let created = false;
  try {
    for (const step of plan.steps) {
      if (step.kind === 'create') {
        await deps.profiles.create(step.name);
        created = true;
      } else {
        await deps.profiles.edit(step.name, step.yaml);
      }
    }
  } catch (error) {
    if (created) await deps.profiles.delete(plan.profile).catch(() => undefined);
    throw error;
  }
  return { ...plan, bridge: fan.bridge, warnings: desired.warnings };
}

/** The profile disable means: --profile, else the selected fan's bridge, else the overlay's default bridge name. */
async function profileName(opts: { overlay?: string; profile?: string }, deps: LxdDeps): Promise<string> {
  if (opts.profile !== undefined) return checkProfileName(opts.profile);
  const view = await deps.fans();
  try {
    return selectFan(view.fans, opts.overlay === undefined ? {} : { overlay: opts.overlay }).bridge;
  } catch (error) {
    // The fan may be down already: its profile is still named after the overlay's bridge.
    if (opts.overlay !== undefined) return bridgeNameOf(parseOverlay(opts.overlay));
    throw error;
  }
}

export async function disableLxd(
  opts: { overlay?: string; profile?: string; force?: boolean },
  deps: LxdDeps,
): Promise<DisablePlan> {
  const name = await profileName(opts, deps);
  const plan = planDisable(name, await deps.profiles.list(), opts.force ?? false);
  for (const instance of plan.detach) await deps.profiles.removeFrom(instance, name);
  if (plan.remove) await deps.profiles.delete(name);
  return plan;
}

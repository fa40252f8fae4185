/** `fanctl lxd-profile`: the LXD profile for a fan that is up (Ubuntu's `fanatic enable-lxd`, as text). */
import { readFanView } from '../../app/fans.js';
import { selectFan } from '../../core/attach/plan.js';
import { type LxdProfile, lxdProfile } from '../../lxd/profile.js';
import type { HostReader } from '../../ports/host.js';

export async function lxdProfileCommand(opts: { overlay?: string; name?: string }, deps: { host: HostReader; stateDir: string }): Promise<LxdProfile> {
  const view = await readFanView(deps);
  const fan = selectFan(view.fans, opts.overlay === undefined ? {} : { overlay: opts.overlay });
  return lxdProfile(fan, opts.name);
}

/**
 * `fanctl lxd-profile` (the profile as text), `fanctl lxd enable|disable` (Ubuntu's `fanatic enable-lxd`, through the
 * real `lxc` client) and `fanctl lxc-config` (network lines for plain LXC, optionally with a static IPAM address).
 */
import { readFanView } from '../../app/fans.js';
import { type LxdEnableReport, disableLxd, enableLxd } from '../../app/lxd.js';
import { selectFan } from '../../core/attach/plan.js';
import { formatIpv4 } from '../../core/address/ipv4.js';
import { type LxcNetConfig, LXC_LEASE_IFNAME, lxcNetConfig, lxcOwner, renderLxcConfig } from '../../lxd/lxc-config.js';
import { LxcProfiles } from '../../lxd/client.js';
import { type DisablePlan, type LxdProfile, lxdProfile } from '../../lxd/profile.js';
import type { HostReader } from '../../ports/host.js';
import type { CommandRunner } from '../../ports/runner.js';
import { openLeaseStore, openLeaseStoreByBridge } from '../../store/lease-file.js';

interface ViewDeps {
  readonly host: HostReader;
  readonly stateDir: string;
}

export async function lxdProfileCommand(
  opts: { overlay?: string; name?: string },
  deps: ViewDeps,
): Promise<LxdProfile> {
  const view = await readFanView(deps);
  const fan = selectFan(view.fans, opts.overlay === undefined ? {} : { overlay: opts.overlay });
  return lxdProfile(fan, opts.name);
}

export interface LxdCommandOptions {
  overlay?: string;
  profile?: string;
  project?: string;
  force?: boolean;
}

function lxdDeps(opts: LxdCommandOptions, deps: ViewDeps & { runner: CommandRunner }) {
  return {
    fans: () => readFanView(deps),
    profiles: new LxcProfiles(deps.runner, opts.project === undefined ? {} : { project: opts.project }),
  };
}

export function lxdEnableCommand(
  opts: LxdCommandOptions,
  deps: ViewDeps & { runner: CommandRunner },
): Promise<LxdEnableReport> {
  return enableLxd(opts, lxdDeps(opts, deps));
}

export function lxdDisableCommand(
  opts: LxdCommandOptions,
  deps: ViewDeps & { runner: CommandRunner },
): Promise<DisablePlan> {
  return disableLxd(opts, lxdDeps(opts, deps));
}

export function renderLxdEnable(r: LxdEnableReport): string {
  const what = r.outcome === 'unchanged' ? 'is up to date' : r.outcome;
  return (
    `LXD profile ${r.profile} ${what} (NIC eth0 on ${r.bridge}); ` +
    `launch instances with: lxc launch IMAGE NAME -p default -p ${r.profile}\n`
  );
}

export function renderLxdDisable(r: DisablePlan): string {
  if (r.outcome === 'absent') return `LXD profile ${r.profile} does not exist: nothing to do\n`;
  const detached = r.detach.length > 0 ? `took profile ${r.profile} off ${r.detach.join(', ')}; ` : '';
  return `${detached}removed LXD profile ${r.profile}\n`;
}

export interface LxcConfigOptions {
  overlay?: string;
  /** Allocate (or keep) a static address for this container from the shared IPAM. */
  static?: string;
  /** Free the static address of this container. */
  release?: string;
}

export interface LxcConfigResult {
  readonly config?: LxcNetConfig;
  readonly text: string;
  readonly released?: string;
}

export async function lxcConfigCommand(opts: LxcConfigOptions, deps: ViewDeps): Promise<LxcConfigResult> {
  if (opts.release !== undefined) {
    const owner = lxcOwner(opts.release);
    const view = await readFanView(deps);
    const bridge = selectFan(view.fans, opts.overlay === undefined ? {} : { overlay: opts.overlay }).bridge;
    const lease = await openLeaseStoreByBridge(deps.stateDir, bridge).release(owner, LXC_LEASE_IFNAME);
    const released = lease ? formatIpv4(lease.address) : undefined;
    return {
      text: released ? `released ${released} of ${opts.release}\n` : `${opts.release} held no address on ${bridge}\n`,
      ...(released ? { released } : {}),
    };
  }
  const view = await readFanView(deps);
  const fan = selectFan(view.fans, opts.overlay === undefined ? {} : { overlay: opts.overlay });
  const lease =
    opts.static === undefined
      ? undefined
      : await openLeaseStore(deps.stateDir, fan).allocate(lxcOwner(opts.static), LXC_LEASE_IFNAME);
  const config = lxcNetConfig(fan, lease?.address);
  return { config, text: renderLxcConfig(config, fan) };
}

/**
 * An LXD profile that puts instances on a fan bridge, like Ubuntu's `fanatic enable-lxd`: a bridged NIC on the
 * fan bridge with the fan's MTU. LXD does not manage the bridge, so instances take their address from the fan's
 * dnsmasq (the fan must be up with --dhcp; dnsmasq hands out the DHCP share of the slice, src/core/mapping/layout.ts).
 * Pure: renders YAML text and plans `fanctl lxd enable/disable` against the profiles LXD reports.
 */
import { formatCidr, formatIpv4 } from '../core/address/ipv4.js';
import type { Fan } from '../core/config/resolve.js';
import { ConfigError } from '../core/errors.js';
import { formatRange, sliceLayout } from '../core/mapping/layout.js';
import { fanMtu } from '../core/plan/host-plan.js';
import type { LxdProfileInfo } from '../ports/lxd.js';

export interface LxdProfile {
  readonly name: string;
  readonly yaml: string;
  readonly description: string;
  /** The NIC device the profile adds (`eth0`), as LXD stores it. */
  readonly device: Readonly<Record<string, string>>;
  /** Problems an operator must fix before instances get addresses. */
  readonly warnings: readonly string[];
}

/** Every profile fanctl writes says so in its description; disable refuses others without --force. */
export const PROFILE_MARK = '(made by fanctl)';
export const NIC_NAME = 'eth0';
const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

const quote = (text: string): string => JSON.stringify(text); // a JSON string is a valid YAML scalar

export function checkProfileName(name: string): string {
  if (!PROFILE_NAME.test(name))
    throw new ConfigError(
      `"${name}" is not an LXD profile name fanctl writes`,
      'use letters, digits, "_", "." and "-", starting with a letter or digit',
    );
  return name;
}

export function lxdProfile(fan: Fan, name = fan.bridge): LxdProfile {
  checkProfileName(name);
  const layout = sliceLayout(fan);
  const warnings = layout.dhcp
    ? []
    : [
        `fan ${formatCidr(fan.map.overlay)} serves no DHCP: instances would get no address. Bring it up with ` +
          `--dhcp (fanctl up -o ${formatCidr(fan.map.overlay)} -u ${fan.spec.underlay.text} --dhcp).`,
      ];
  const description =
    `Fan ${formatCidr(fan.map.overlay)} over ${formatCidr(fan.map.underlay)}: slice ${formatCidr(fan.host.slice)}, ` +
    `gateway ${formatIpv4(fan.host.gateway)}${layout.dhcp ? `, DHCP ${formatRange(layout.dhcp)}` : ''} ${PROFILE_MARK}`;
  const device = { name: NIC_NAME, type: 'nic', nictype: 'bridged', parent: fan.bridge, mtu: String(fanMtu(fan)) };
  const yaml = [
    `name: ${name}`,
    `description: ${quote(description)}`,
    'config: {}',
    'devices:',
    `  ${NIC_NAME}:`,
    ...Object.entries(device).map(([k, v]) => `    ${k}: ${k === 'mtu' ? quote(v) : v}`),
    '',
  ].join('\n');
  return { name, yaml, description, device, warnings };
}

export type EnableStep =
  | { readonly kind: 'create'; readonly name: string }
  | { readonly kind: 'edit'; readonly name: string; readonly yaml: string };

export interface EnablePlan {
  readonly profile: string;
  /** Empty when the profile already is what fanctl would write. */
  readonly steps: readonly EnableStep[];
  /** created | updated | unchanged */
  readonly outcome: 'created' | 'updated' | 'unchanged';
}

function sameDevice(a: Readonly<Record<string, string>> | undefined, b: Readonly<Record<string, string>>): boolean {
  if (a === undefined) return false;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => a[k] === b[k]);
}

/**
 * Create the profile, or bring an existing one up to date. An existing profile keeps its own config and its other
 * devices (an operator may have added limits or disks); only its `eth0` NIC and description are fanctl's. The
 * update is JSON, which LXD's YAML reader takes as it is.
 */
export function planEnable(desired: LxdProfile, existing: readonly LxdProfileInfo[]): EnablePlan {
  const current = existing.find((p) => p.name === desired.name);
  if (!current) {
    return {
      profile: desired.name,
      outcome: 'created',
      steps: [
        { kind: 'create', name: desired.name },
        { kind: 'edit', name: desired.name, yaml: desired.yaml },
      ],
    };
  }
  if (sameDevice(current.devices[NIC_NAME], desired.device) && current.description === desired.description) {
    return { profile: desired.name, outcome: 'unchanged', steps: [] };
  }
  const merged = {
    name: desired.name,
    description: desired.description,
    config: current.config,
    devices: { ...current.devices, [NIC_NAME]: desired.device },
  };
  return {
    profile: desired.name,
    outcome: 'updated',
    steps: [{ kind: 'edit', name: desired.name, yaml: `${JSON.stringify(merged, null, 2)}\n` }],
  };
}

/** `/1.0/instances/c1?project=p` → `c1`. */
export function instanceOfPath(path: string): string {
  const tail = path.split('?')[0]?.split('/').pop() ?? path;
  return decodeURIComponent(tail);
}

export interface DisablePlan {
  readonly profile: string;
  /** Instances the profile is taken off first (only with --force). */
  readonly detach: readonly string[];
  readonly remove: boolean;
  readonly outcome: 'removed' | 'absent';
}

export function planDisable(name: string, existing: readonly LxdProfileInfo[], force: boolean): DisablePlan {
  const current = existing.find((p) => p.name === name);
  if (!current) return { profile: name, detach: [], remove: false, outcome: 'absent' };
  if (!force && !current.description.includes(PROFILE_MARK)) {
    throw new ConfigError(
      `LXD profile ${name} was not made by fanctl (its description lacks "${PROFILE_MARK}")`,
      `remove it with lxc profile delete ${name}, or pass --force`,
    );
  }
  const instances = current.usedBy.map(instanceOfPath);
  if (instances.length > 0 && !force) {
    throw new ConfigError(
      `LXD profile ${name} is used by ${instances.length} instance(s): ${instances.join(', ')}`,
      `take it off them first (lxc profile remove INSTANCE ${name}) or delete them, ` +
        'or pass --force to take it off every one (their fan NIC goes away)',
    );
  }
  return { profile: name, detach: instances, remove: true, outcome: 'removed' };
}

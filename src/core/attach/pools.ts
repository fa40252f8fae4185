/**
 * Pools for runtimes that ask for a subnet first and for addresses later (Docker's IPAM driver): which fan a
 * requested subnet means, the pool id that names it, and finding the fan again from a pool id or an address.
 * A pool is always this host's slice of one fan: the address alone must tell which host owns a container.
 * Pool ids are `<bridge>:<slice>` (`fan-250:250.3.4.0/24`), or `<bridge>:<slice>:<range>` for a network created
 * with `--ip-range` (addresses come only from that part of the slice), either followed by `@<group>` for a network
 * of a policy group (`--ipam-opt fan.group=web`), so nothing about a pool needs to be remembered. Pure.
 */
import { type Cidr, type Ipv4, contains, equalCidr, formatCidr, parseCidr } from '../address/ipv4.js';
import type { Fan } from '../config/resolve.js';
import { ConfigError } from '../errors.js';
import { GROUP_NAME } from '../policy/parse.js';
import { FanNotUpError } from './plan.js';

export function poolIdOf(fan: Fan, range?: Cidr, group?: string): string {
  const base = `${fan.bridge}:${formatCidr(fan.host.slice)}${range === undefined ? '' : `:${formatCidr(range)}`}`;
  return group === undefined ? base : `${base}@${group}`;
}

export interface PoolRef {
  readonly bridge: string;
  readonly slice: Cidr;
  /** `--ip-range`: the part of the slice the pool hands out. */
  readonly range?: Cidr;
  /** `--ipam-opt fan.group=NAME`: addresses come from the policy group's index range (`…@NAME`). */
  readonly group?: string;
}

function cidrOrUndefined(text: string | undefined): Cidr | undefined {
  if (text === undefined) return undefined;
  try {
    return parseCidr(text);
  } catch {
    return undefined;
  }
}

export function parsePoolId(id: string): PoolRef {
  const [pool = '', group, ...more] = id.split('@');
  const [bridge = '', sliceText, rangeText, ...rest] = pool.split(':');
  const slice = cidrOrUndefined(sliceText);
  const range = cidrOrUndefined(rangeText);
  const badGroup = more.length > 0 || (group !== undefined && !GROUP_NAME.test(group));
  if (!slice || bridge === '' || rest.length > 0 || (rangeText !== undefined && !range) || badGroup) {
    throw new ConfigError(
      `pool id "${id}" is not a fan pool (expected <bridge>:<slice>)`,
      'create the network with --ipam-driver fan',
    );
  }
  return { bridge, slice, ...(range ? { range } : {}), ...(group !== undefined ? { group } : {}) };
}

/**
 * Checks an `--ip-range` against the fan's slice: it must lie inside it. The whole slice means no range (the
 * plain pool); anything else names the range in the pool id.
 */
export function ipRangeOf(fan: Fan, range: Cidr | undefined): Cidr | undefined {
  if (range === undefined || equalCidr(range, fan.host.slice)) return undefined;
  const slice = fan.host.slice;
  if (range.prefix < slice.prefix || !contains(slice, range.address)) {
    throw new ConfigError(
      `--ip-range ${formatCidr(range)} is not inside this host's slice ` +
        `${formatCidr(slice)} of fan ${formatCidr(fan.map.overlay)}`,
      `pass an --ip-range inside ${formatCidr(slice)}, e.g. ` +
        `${formatCidr({ address: slice.address + 2 ** (32 - slice.prefix - 1), prefix: slice.prefix + 1 })}, ` +
        `or leave it out`,
    );
  }
  return range;
}

function usage(fans: readonly Fan[]): string {
  return fans
    .map((f) => `--subnet ${formatCidr(f.host.slice)} (or the overlay ${formatCidr(f.map.overlay)}) for ${f.bridge}`)
    .join('; ');
}

function noFan(wanted: string): FanNotUpError {
  return new FanNotUpError(
    `no fan is up on this host (wanted ${wanted})`,
    'bring one up first, e.g. fanctl up -o 250.0.0.0/8 -u <underlay>',
    false,
  );
}

/**
 * The fan a requested subnet names: this host's slice of a fan, or a fan's whole overlay (which still means this
 * host's slice). Throws ConfigError naming the slice to use, FanNotUpError when no fan is up.
 */
export function fanForSubnet(fans: readonly Fan[], requested: Cidr | undefined): Fan {
  if (fans.length === 0) throw noFan(requested ? `subnet ${formatCidr(requested)}` : 'a subnet');
  if (requested === undefined) {
    throw new ConfigError(
      "the fan IPAM needs a subnet: it hands out addresses of this host's slice only",
      `pass ${usage(fans)}`,
    );
  }
  const fan = fans.find((f) => equalCidr(f.host.slice, requested) || equalCidr(f.map.overlay, requested));
  if (fan) return fan;
  const within = fans.find((f) => contains(f.map.overlay, requested.address));
  if (within) {
    throw new ConfigError(
      `subnet ${formatCidr(requested)} is not this host's slice of fan ${formatCidr(within.map.overlay)}: ` +
        `this host's slice is ${formatCidr(within.host.slice)}`,
      `pass --subnet ${formatCidr(within.host.slice)} ` +
        `(or the overlay ${formatCidr(within.map.overlay)}); every host's network uses that host's own slice`,
    );
  }
  throw new ConfigError(`subnet ${formatCidr(requested)} is not a fan of this host`, `pass ${usage(fans)}`);
}

/** The fan of a pool id; throws when that fan is not up or no longer gives this host the pool's slice. */
export function fanOfPool(fans: readonly Fan[], id: string): Fan {
  const ref = parsePoolId(id);
  const fan = fans.find((f) => f.bridge === ref.bridge);
  if (!fan) {
    if (fans.length === 0) throw noFan(`pool ${id}`);
    throw new FanNotUpError(
      `the fan of pool ${id} (bridge ${ref.bridge}) is not up on this host`,
      `bring it up with fanctl up; fans up here: ${fans.map((f) => f.bridge).join(', ')}`,
      false,
    );
  }
  if (ref.range !== undefined && (ref.range.prefix < ref.slice.prefix || !contains(ref.slice, ref.range.address))) {
    throw new ConfigError(
      `pool ${id} has an ip range outside its slice`,
      'create the network again with an --ip-range inside the slice',
    );
  }
  if (!equalCidr(fan.host.slice, ref.slice)) {
    throw new ConfigError(
      `pool ${formatCidr(ref.slice)} is no longer this host's slice of fan ${formatCidr(fan.map.overlay)} ` +
        `(it is now ${formatCidr(fan.host.slice)})`,
      `remove the Docker network and create it again with --subnet ${formatCidr(fan.host.slice)}`,
    );
  }
  return fan;
}

/** The fan whose slice on this host holds `address`. */
export function fanOfAddress(fans: readonly Fan[], address: Ipv4): Fan | undefined {
  return fans.find((f) => contains(f.host.slice, address));
}

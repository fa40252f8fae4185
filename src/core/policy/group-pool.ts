/**
 * Joining a group is getting an address from its index range: the IPAM pool of a fan, narrowed to the group's
 * range by reserving everything else of the slice. The lease table stays the fan's one (same file, same lock),
 * so grouped and ungrouped containers never share an address. Pure.
 */
import { formatCidr, u32 } from '../address/ipv4.js';
import { ConfigError } from '../errors.js';
import type { IpamPool, ReservedRange } from '../ipam/pool.js';
import { broadcast } from '../address/ipv4.js';
import { type Policy, findGroup } from './model.js';

/** Which group a CNI call asks for: an explicit name, else its Kubernetes namespace mapped (or named) like a group. */
export function requestedGroup(
  policy: Policy,
  request: { readonly group?: string; readonly k8sNamespace?: string },
): string | undefined {
  if (request.group !== undefined && request.group !== '') return request.group;
  const ns = request.k8sNamespace;
  if (ns === undefined || ns === '') return undefined;
  const mapped = policy.namespaces.get(ns);
  if (mapped !== undefined) return mapped;
  return policy.groups.some((g) => g.kind === 'index' && g.name === ns) ? ns : undefined;
}

export function groupPool(pool: IpamPool, policy: Policy, name: string): IpamPool {
  const group = findGroup(policy, name);
  if (!group) {
    const known = policy.groups.filter((g) => g.kind === 'index').map((g) => g.name);
    throw new ConfigError(
      `group "${name}" is not in the applied policy`,
      known.length > 0
        ? `use one of ${known.join(', ')}, or add it (fanctl policy group create ${name} --index A-B --apply)`
        : `add it (fanctl policy group create ${name} --index A-B --apply)`,
    );
  }
  if (group.kind !== 'index') {
    throw new ConfigError(
      `group "${name}" is a CIDR group (${group.cidrs.map(formatCidr).join(', ')}): containers cannot join it`,
      'give the container an index group, e.g. one created with --index 10-19',
    );
  }
  const base = pool.slice.address;
  const end = broadcast(pool.slice);
  const first = u32(base + group.first);
  const last = u32(Math.min(base + group.last, end));
  const outside: ReservedRange[] = [];
  const reason = `outside group ${name} (indexes ${group.first}-${group.last})`;
  if (first > base) outside.push({ start: base, end: u32(first - 1), reason });
  if (last < end) outside.push({ start: u32(last + 1), end, reason });
  return {
    ...pool,
    label: `group ${name} of ${pool.label}`,
    reserved: [...pool.reserved, ...outside].sort((a, b) => a.start - b.start),
  };
}

/**
 * The pool of a container that asks for no group, while a policy is applied: the fan's pool without any index
 * group's range. Otherwise the next free address could lie in a group's range and make the container a member of
 * that group without asking. Undefined when the policy has no index groups (the plain pool is right).
 */
export function ungroupedPool(pool: IpamPool, policy: Policy): IpamPool | undefined {
  const groups = policy.groups.filter((g) => g.kind === 'index');
  if (groups.length === 0) return undefined;
  const base = pool.slice.address;
  const end = broadcast(pool.slice);
  const inGroups: ReservedRange[] = [];
  for (const g of groups) {
    const start = u32(base + g.first);
    if (start > end) continue;
    inGroups.push({
      start,
      end: u32(Math.min(base + g.last, end)),
      reason: `group ${g.name} (indexes ${g.first}-${g.last}): ask for it with the group, or use another address`,
    });
  }
  return {
    ...pool,
    label: `${pool.label} outside the policy's groups`,
    reserved: [...pool.reserved, ...inGroups].sort((a, b) => a.start - b.start),
  };
}

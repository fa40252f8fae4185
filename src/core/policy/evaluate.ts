/**
 * The group of any address, by arithmetic, and `policy check`: whether a packet from SRC to DST is allowed and by
 * which rule, computed from the policy alone (no packet is sent, nothing is read from the kernel). Pure.
 *
 * Inside an overlay the group follows from the container index, `address & hostMask(slice prefix)`: the same
 * range on every host's slice, so the answer never depends on which host owns the address. Indexes 0 and the last
 * (network, broadcast) and 1…host-reserve (the hosts' own addresses) are `host` and always reachable. An overlay
 * address in no group's range is `ungrouped`; outside the overlays, CIDR groups apply, and the rest is `outside`.
 *
 * Evaluation order (first match wins): a `disconnect` pair is denied; a `connect` pair passes; host addresses
 * pass; `deny` rules; `allow` rules; members of one group reach each other; the default.
 */
import { type Cidr, type Ipv4, contains, formatCidr, formatIpv4, hostMask, overlaps, u32 } from '../address/ipv4.js';
import {
  ANY,
  type GroupRule,
  type L4Proto,
  OUTSIDE,
  type Policy,
  type PortSpec,
  UNGROUPED,
  formatPort,
} from './model.js';
import { type PolicyProblem, PolicyError } from './parse.js';

/** One fan on this host, as far as the policy needs it. */
export interface PolicyFan {
  readonly overlay: Cidr;
  /** Prefix of every host's slice: overlay prefix + (32 − underlay prefix). */
  readonly slicePrefix: number;
  /** Indexes 1…hostReserve are the hosts' own addresses. */
  readonly hostReserve: number;
}

export interface PolicyGeometry {
  readonly fans: readonly PolicyFan[];
}

export type AddressClass =
  | { readonly kind: 'host'; readonly index: number; readonly overlay: Cidr }
  | { readonly kind: 'group'; readonly group: string; readonly index?: number; readonly overlay?: Cidr };

export function sliceSize(fan: PolicyFan): number {
  return 2 ** (32 - fan.slicePrefix);
}

export function indexOf(fan: PolicyFan, address: Ipv4): number {
  return u32(address & hostMask(fan.slicePrefix));
}

export function isReservedIndex(fan: PolicyFan, index: number): boolean {
  return index === 0 || index === sliceSize(fan) - 1 || index <= fan.hostReserve;
}

export function classify(policy: Policy, geometry: PolicyGeometry, address: Ipv4): AddressClass {
  const fan = geometry.fans.find((f) => contains(f.overlay, address));
  if (fan) {
    const index = indexOf(fan, address);
    if (isReservedIndex(fan, index)) return { kind: 'host', index, overlay: fan.overlay };
    const g = policy.groups.find((x) => x.kind === 'index' && index >= x.first && index <= x.last);
    return { kind: 'group', group: g?.name ?? UNGROUPED, index, overlay: fan.overlay };
  }
  const g = policy.groups.find((x) => x.kind === 'cidr' && x.cidrs.some((c) => contains(c, address)));
  return { kind: 'group', group: g?.name ?? OUTSIDE };
}

/** The index groups must fit every fan's slice and leave the host reserve alone; CIDR groups stay off the overlays. */
export function checkGeometry(policy: Policy, geometry: PolicyGeometry): void {
  const problems: PolicyProblem[] = [];
  for (const g of policy.groups) {
    for (const fan of geometry.fans) {
      if (g.kind === 'index') {
        const size = sliceSize(fan);
        if (g.last > size - 2) {
          problems.push({
            line: g.line,
            field: `groups.${g.name}.index`,
            message: `indexes ${g.first}-${g.last} do not fit the /${fan.slicePrefix} slices of overlay ${formatCidr(fan.overlay)} (container indexes ${fan.hostReserve + 1}-${size - 2})`,
            hint: `keep the range inside ${fan.hostReserve + 1}-${size - 2}`,
          });
        } else if (g.first <= fan.hostReserve) {
          problems.push({
            line: g.line,
            field: `groups.${g.name}.index`,
            message: `indexes ${g.first}-${g.last} include the host reserve 0-${fan.hostReserve} of overlay ${formatCidr(fan.overlay)}`,
            hint: `start the range above ${fan.hostReserve}, e.g. ${fan.hostReserve + 1}-${Math.max(fan.hostReserve + 1, g.last)}`,
          });
        }
      } else {
        for (const c of g.cidrs) {
          if (overlaps(c, fan.overlay)) {
            problems.push({
              line: g.line,
              field: `groups.${g.name}.cidr`,
              message: `${formatCidr(c)} overlaps overlay ${formatCidr(fan.overlay)}, whose groups are index ranges`,
              hint: 'give containers of the fan a group with index: FIRST-LAST; CIDR groups are for networks outside the fan',
            });
          }
        }
      }
    }
  }
  if (problems.length > 0) throw new PolicyError(policy.source, problems);
}

export interface L4 {
  readonly proto: L4Proto | 'other';
  readonly port?: number;
}

export interface CheckResult {
  readonly allowed: boolean;
  /** The rule that decided, as the operator wrote it, with its line when it has one. */
  readonly rule: string;
  readonly line?: number;
  readonly from: AddressClass;
  readonly to: AddressClass;
}

export function portMatches(spec: PortSpec, l4: L4 | undefined): boolean {
  if (!l4 || l4.proto !== spec.proto) return false;
  if (spec.proto === 'icmp') return true;
  return l4.port !== undefined && spec.from !== undefined && l4.port >= spec.from && l4.port <= (spec.to ?? spec.from);
}

function groupOf(c: AddressClass): string {
  return c.kind === 'group' ? c.group : 'host';
}

function ruleMatches(rule: GroupRule, from: string, to: string, l4: L4 | undefined): boolean {
  return (
    (rule.from === ANY || rule.from === from) &&
    (rule.to === ANY || rule.to === to) &&
    (rule.ports.length === 0 || rule.ports.some((p) => portMatches(p, l4)))
  );
}

export function describeRule(kind: 'allow' | 'deny', rule: GroupRule): string {
  return `${kind} ${rule.from} -> ${rule.to}${rule.ports.length > 0 ? ` ${rule.ports.map(formatPort).join(',')}` : ''}`;
}

export const HOST_RULE = "host address (the hosts' own addresses stay reachable)";

export function describePair(kind: 'connect' | 'disconnect', p: { a: Ipv4; b: Ipv4 }): string {
  return `${kind} ${formatIpv4(p.a)} ${formatIpv4(p.b)}`;
}

const samePair = (p: { a: Ipv4; b: Ipv4 }, x: Ipv4, y: Ipv4): boolean =>
  (p.a === x && p.b === y) || (p.a === y && p.b === x);

export function checkPolicy(policy: Policy, geometry: PolicyGeometry, src: Ipv4, dst: Ipv4, l4?: L4): CheckResult {
  const from = classify(policy, geometry, src);
  const to = classify(policy, geometry, dst);
  const done = (allowed: boolean, rule: string, line?: number): CheckResult => ({
    allowed,
    rule,
    ...(line !== undefined ? { line } : {}),
    from,
    to,
  });
  const off = policy.disconnect.find((p) => samePair(p, u32(src), u32(dst)));
  if (off) return done(false, describePair('disconnect', off), off.line);
  const on = policy.connect.find((p) => samePair(p, u32(src), u32(dst)));
  if (on) return done(true, describePair('connect', on), on.line);
  if (from.kind === 'host' || to.kind === 'host') return done(true, HOST_RULE);
  const gs = groupOf(from);
  const gd = groupOf(to);
  const deny = policy.deny.find((r) => ruleMatches(r, gs, gd, l4));
  if (deny) return done(false, describeRule('deny', deny), deny.line);
  const allow = policy.allow.find((r) => ruleMatches(r, gs, gd, l4));
  if (allow) return done(true, describeRule('allow', allow), allow.line);
  if (gs === gd) return done(true, `within group ${gs}`);
  return policy.default === 'open' ? done(true, 'default open') : done(false, 'default isolate');
}

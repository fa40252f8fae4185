/**
 * The isolation policy as data: groups carried in the address (a range of container indexes inside every host's
 * slice, or CIDRs outside the fan), one-way allow/deny rules between groups, address pairs connected or
 * disconnected whatever their groups, and container ports exposed on the host's underlay address. Pure.
 * Every element keeps the line it was written on, so later checks (against this host's geometry) name it.
 */
import type { Cidr, Ipv4 } from '../address/ipv4.js';

export type PolicyDefault = 'isolate' | 'open';

/** Group names with a fixed meaning; a policy may not define them. */
export const UNGROUPED = 'ungrouped';
export const OUTSIDE = 'outside';
export const ANY = 'any';
export const RESERVED_GROUP_NAMES: readonly string[] = [UNGROUPED, OUTSIDE, ANY, 'host'];

export interface IndexGroup {
  readonly name: string;
  readonly kind: 'index';
  /** Container indexes (address − slice base), inclusive. */
  readonly first: number;
  readonly last: number;
  readonly line: number;
}

export interface CidrGroup {
  readonly name: string;
  readonly kind: 'cidr';
  readonly cidrs: readonly Cidr[];
  readonly line: number;
}

export type Group = IndexGroup | CidrGroup;

export type L4Proto = 'tcp' | 'udp' | 'icmp';

/** `tcp/80`, `udp/5000-5010`, `icmp` (no port). */
export interface PortSpec {
  readonly proto: L4Proto;
  /** Inclusive destination port range; absent for icmp. */
  readonly from?: number;
  readonly to?: number;
}

export interface GroupRule {
  readonly from: string;
  readonly to: string;
  /** Empty: every protocol and port. */
  readonly ports: readonly PortSpec[];
  readonly line: number;
}

export interface AddressPair {
  readonly a: Ipv4;
  readonly b: Ipv4;
  readonly line: number;
}

export interface Expose {
  readonly proto: 'tcp' | 'udp';
  /** Port on the host's underlay address. */
  readonly port: number;
  readonly to: Ipv4;
  readonly toPort: number;
  readonly line: number;
}

export interface Policy {
  readonly default: PolicyDefault;
  readonly groups: readonly Group[];
  readonly allow: readonly GroupRule[];
  readonly deny: readonly GroupRule[];
  readonly connect: readonly AddressPair[];
  readonly disconnect: readonly AddressPair[];
  readonly expose: readonly Expose[];
  /** Kubernetes namespace → group, for pods whose CNI call names no group. */
  readonly namespaces: ReadonlyMap<string, string>;
  /** Where the policy came from, for messages (`policy.yaml`). */
  readonly source: string;
}

export function formatPort(p: PortSpec): string {
  if (p.from === undefined) return p.proto;
  return p.to !== undefined && p.to !== p.from ? `${p.proto}/${p.from}-${p.to}` : `${p.proto}/${p.from}`;
}

export function findGroup(policy: Policy, name: string): Group | undefined {
  return policy.groups.find((g) => g.name === name);
}

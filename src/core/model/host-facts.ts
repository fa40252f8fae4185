/**
 * What fan reads about a host before planning: interfaces with their IPv4 addresses, and routes. Filled by the
 * kernel layer from `ip -json`, or by tests by hand; everything that decides uses only this snapshot.
 */
import type { Cidr } from '../address/ipv4.js';

export interface InterfaceFacts {
  readonly name: string;
  readonly mtu: number;
  readonly up: boolean;
  readonly addresses: readonly Cidr[];
  /** Link kind from `ip -d link` (bridge, vxlan, veth, …) when known. */
  readonly kind?: string;
  /** Bridge this interface is a port of. */
  readonly master?: string;
  readonly mac?: string;
  /** Interface alias; fan marks the links it creates with it. */
  readonly alias?: string;
  /** Device group (`ip link … group N`); fan's links get theirs in the very call that creates them. */
  readonly group?: string;
}

export interface RouteFacts {
  readonly dst: Cidr;
  readonly dev?: string;
  readonly gateway?: number;
  readonly table?: string;
  readonly src?: number;
  readonly mtu?: number;
  /** Routing protocol as `ip` prints it (`kernel`, `static`, `250` for fan's routes, …). */
  readonly protocol?: string;
}

export interface HostFacts {
  readonly interfaces: readonly InterfaceFacts[];
  readonly routes: readonly RouteFacts[];
}

export function defaultRouteDevice(facts: HostFacts): string | undefined {
  return facts.routes.find((r) => r.dst.prefix === 0 && (r.table === undefined || r.table === 'main'))?.dev;
}

export function findInterface(facts: HostFacts, name: string): InterfaceFacts | undefined {
  return facts.interfaces.find((i) => i.name === name);
}

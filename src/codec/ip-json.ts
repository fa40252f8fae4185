/** Decodes `ip -json` output into HostFacts. Pure; schemas keep only the fields fan reads. */
import { z } from 'zod';
import { type Cidr, parseCidr, parseIpv4 } from '../core/address/ipv4.js';
import type { HostFacts, InterfaceFacts, RouteFacts } from '../core/model/host-facts.js';

const addrInfo = z
  .object({ family: z.string(), local: z.string().optional(), prefixlen: z.number().optional() })
  .passthrough();
const link = z
  .object({
    ifname: z.string(),
    mtu: z.number().optional(),
    flags: z.array(z.string()).optional(),
    operstate: z.string().optional(),
    master: z.string().optional(),
    address: z.string().optional(),
    ifalias: z.string().optional(),
    group: z.string().optional(),
    linkinfo: z.object({ info_kind: z.string().optional() }).passthrough().optional(),
    addr_info: z.array(addrInfo).optional(),
  })
  .passthrough();
const route = z
  .object({
    dst: z.string(),
    dev: z.string().optional(),
    gateway: z.string().optional(),
    table: z.string().optional(),
    prefsrc: z.string().optional(),
    protocol: z.string().optional(),
    metrics: z.array(z.object({ mtu: z.number().optional() }).passthrough()).optional(),
  })
  .passthrough();

/** `ip -json -details address show` */
export function decodeAddressShow(json: string): InterfaceFacts[] {
  return z
    .array(link)
    .parse(JSON.parse(json || '[]'))
    .map((l) => ({
      name: l.ifname,
      mtu: l.mtu ?? 1500,
      up: (l.flags ?? []).includes('UP'),
      addresses: (l.addr_info ?? [])
        .filter((a) => a.family === 'inet' && a.local !== undefined)
        .map((a): Cidr => ({ address: parseIpv4(a.local as string), prefix: a.prefixlen ?? 32 })),
      ...(l.linkinfo?.info_kind ? { kind: l.linkinfo.info_kind } : {}),
      ...(l.master ? { master: l.master } : {}),
      ...(l.address ? { mac: l.address } : {}),
      ...(l.ifalias ? { alias: l.ifalias } : {}),
      ...(l.group && l.group !== 'default' ? { group: l.group } : {}),
    }));
}

/** `ip -json route show` (IPv4). `default` becomes 0.0.0.0/0, a bare address a /32. */
export function decodeRouteShow(json: string): RouteFacts[] {
  return z
    .array(route)
    .parse(JSON.parse(json || '[]'))
    .flatMap((r): RouteFacts[] => {
      let dst: Cidr;
      const mtu = r.metrics?.find((m) => m.mtu !== undefined)?.mtu;
      try {
        dst =
          r.dst === 'default'
            ? { address: 0, prefix: 0 }
            : r.dst.includes('/')
              ? parseCidr(r.dst)
              : { address: parseIpv4(r.dst), prefix: 32 };
      } catch {
        return []; // multicast/broadcast/IPv6 forms fan does not reason about
      }
      return [
        {
          dst,
          ...(r.dev ? { dev: r.dev } : {}),
          ...(r.gateway ? { gateway: parseIpv4(r.gateway) } : {}),
          ...(r.table ? { table: r.table } : {}),
          ...(r.prefsrc ? { src: parseIpv4(r.prefsrc) } : {}),
          ...(r.protocol ? { protocol: r.protocol } : {}),
          ...(mtu !== undefined ? { mtu } : {}),
        },
      ];
    });
}

export function decodeHostFacts(addressJson: string, routeJson: string): HostFacts {
  return { interfaces: decodeAddressShow(addressJson), routes: decodeRouteShow(routeJson) };
}

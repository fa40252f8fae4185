/**
 * IPv4 addresses and prefixes as unsigned 32-bit numbers. Pure; every function here is total over its
 * documented domain and throws ConfigError (with the offending text) on malformed input.
 */
import { ConfigError } from '../errors.js';

/** An IPv4 address as an unsigned 32-bit integer (0 … 2^32-1). */
export type Ipv4 = number;

/** A prefix: `address` may have host bits set (an interface address); use `network()` for the network. */
export interface Cidr {
  readonly address: Ipv4;
  readonly prefix: number;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function u32(value: number): Ipv4 {
  return value >>> 0;
}

export function parseIpv4(text: string): Ipv4 {
  const parts = text.trim().split('.');
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) {
    throw new ConfigError(`"${text}" is not an IPv4 address`, 'write it as four decimal octets, e.g. 172.16.3.4');
  }
  return u32(parts.reduce((acc, p) => acc * 256 + Number(p), 0));
}

export function isIpv4(text: string): boolean {
  try {
    parseIpv4(text);
    return true;
  } catch {
    return false;
  }
}

export function formatIpv4(address: Ipv4): string {
  const a = u32(address);
  return [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.');
}

export function octets(address: Ipv4): [number, number, number, number] {
  const a = u32(address);
  return [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255];
}

/** Netmask of a prefix length: mask(0) = 0, mask(32) = 0xffffffff. */
export function mask(prefix: number): Ipv4 {
  checkPrefix(prefix, String(prefix));
  return prefix === 0 ? 0 : u32(0xffffffff << (32 - prefix));
}

export function hostMask(prefix: number): Ipv4 {
  return u32(~mask(prefix));
}

function checkPrefix(prefix: number, text: string): void {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) {
    throw new ConfigError(`prefix length "${text}" is out of range`, 'use a whole number from 0 to 32');
  }
}

export function parsePrefixLength(text: string): number {
  if (!/^\d{1,2}$/.test(text)) {
    throw new ConfigError(`prefix length "${text}" is not a number`, 'use a whole number from 0 to 32, e.g. /16');
  }
  const prefix = Number(text);
  checkPrefix(prefix, text);
  return prefix;
}

/** Parses `A.B.C.D/N`. Host bits are kept (an interface address is a valid Cidr). */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  if (slash < 0) {
    throw new ConfigError(`"${text}" is not a CIDR prefix`, 'write ADDRESS/LENGTH, e.g. 250.0.0.0/8');
  }
  return { address: parseIpv4(text.slice(0, slash)), prefix: parsePrefixLength(text.slice(slash + 1)) };
}

export function cidr(address: Ipv4, prefix: number): Cidr {
  checkPrefix(prefix, String(prefix));
  return { address: u32(address), prefix };
}

export function network(c: Cidr): Cidr {
  return { address: u32(c.address & mask(c.prefix)), prefix: c.prefix };
}

export function isNetworkAddress(c: Cidr): boolean {
  return u32(c.address & mask(c.prefix)) === u32(c.address);
}

export function broadcast(c: Cidr): Ipv4 {
  return u32(c.address | hostMask(c.prefix));
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function contains(outer: Cidr, address: Ipv4): boolean {
  return u32(address & mask(outer.prefix)) === u32(outer.address & mask(outer.prefix));
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const shorter = Math.min(a.prefix, b.prefix);
  const m = mask(shorter);
  return u32(a.address & m) === u32(b.address & m);
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.address)}/${c.prefix}`;
}

export function equalCidr(a: Cidr, b: Cidr): boolean {
  return u32(a.address) === u32(b.address) && a.prefix === b.prefix;
}

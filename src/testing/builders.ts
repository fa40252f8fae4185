/**
 * Test-only builders and assertions shared by the pure unit tests. Pure: builds values in memory, never reads
 * the host. Not imported by production code.
 */
import assert from 'node:assert/strict';
import { type Cidr, parseCidr } from '../core/address/ipv4.js';
import { ConfigError } from '../core/errors.js';
import type { HostFacts, InterfaceFacts, RouteFacts } from '../core/model/host-facts.js';

/** `cidrOf('250.0.0.0/8')`: a Cidr from text, for readable expectations. */
export function cidrOf(text: string): Cidr {
  return parseCidr(text);
}

/** An interface that is up, MTU 1500 unless overridden, with the given `ADDRESS/LEN` addresses. */
export function iface(
  name: string,
  addresses: readonly string[] = [],
  extra: Partial<InterfaceFacts> = {},
): InterfaceFacts {
  return { name, mtu: 1500, up: true, addresses: addresses.map(cidrOf), ...extra };
}

/** A main-table route; `dst` is `default`, `A.B.C.D/N` or a bare address (a /32). */
export function route(dst: string, dev?: string, extra: Partial<RouteFacts> = {}): RouteFacts {
  const parsed: Cidr =
    dst === 'default' ? { address: 0, prefix: 0 } : dst.includes('/') ? cidrOf(dst) : cidrOf(`${dst}/32`);
  return { dst: parsed, ...(dev === undefined ? {} : { dev }), ...extra };
}

export function hostFacts(interfaces: readonly InterfaceFacts[], routes: readonly RouteFacts[] = []): HostFacts {
  return { interfaces, routes };
}

/**
 * A typical Fan host: eth0 on the 172.16.0.0/16 underlay (default route, MTU 9000), eth1 on 10.99.224.0/20, Docker's
 * bridge, loopback and a link without addresses.
 */
export function typicalHost(extraRoutes: readonly RouteFacts[] = []): HostFacts {
  return hostFacts(
    [
      iface('lo', ['127.0.0.1/8'], { mtu: 65536 }),
      iface('eth0', ['172.16.3.4/16', '172.16.9.9/16'], { mtu: 9000, mac: '02:00:ac:10:03:04' }),
      iface('eth1', ['10.99.238.5/20']),
      iface('docker0', ['172.17.0.1/16'], { kind: 'bridge' }),
      iface('ifb0', [], { up: false }),
    ],
    [
      route('default', 'eth0', { gateway: cidrOf('172.16.0.1/32').address }),
      route('172.16.0.0/16', 'eth0'),
      route('10.99.224.0/20', 'eth1'),
      route('172.17.0.0/16', 'docker0'),
      ...extraRoutes,
    ],
  );
}

/**
 * Asserts that `fn` throws a ConfigError whose message equals `message` (string) or matches it (RegExp), and, when
 * given, whose hint matches `hint`.
 */
export function assertConfigError(fn: () => unknown, message: string | RegExp, hint?: string | RegExp): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  return checkConfigError(caught, message, hint);
}

/** The async form of assertConfigError. */
export async function assertRejectsConfigError(
  promise: Promise<unknown>,
  message: string | RegExp,
  hint?: string | RegExp,
): Promise<ConfigError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  return checkConfigError(caught, message, hint);
}

function checkConfigError(caught: unknown, message: string | RegExp, hint?: string | RegExp): ConfigError {
  assert.ok(caught !== undefined, 'expected a ConfigError, but nothing was thrown');
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.equal(caught.exitCode, 2);
  if (typeof message === 'string') assert.equal(caught.message, message);
  else assert.match(caught.message, message);
  if (hint !== undefined) {
    assert.ok(caught.hint !== undefined, `expected a hint on "${caught.message}"`);
    if (typeof hint === 'string') assert.equal(caught.hint, hint);
    else assert.match(caught.hint, hint);
  }
  return caught;
}

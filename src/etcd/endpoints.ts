/**
 * Where the policy lives in etcd, checked without loading the etcd client (a gRPC stack that costs every fanctl
 * call its start-up time when imported eagerly): the commands refuse a bad URL or key before anything starts.
 */
import { ConfigError } from '../core/errors.js';

export const DEFAULT_POLICY_KEY = '/fan/policy';

/** `http://host:2379`, several separated by commas. */
export function parseEtcdEndpoints(text: string): string[] {
  const hosts = text
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '');
  for (const h of hosts) {
    let url: URL | undefined;
    try {
      url = new URL(h);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '')
      throw new ConfigError(
        `etcd endpoint "${h}" is not an http(s) URL`,
        'e.g. --etcd http://10.0.0.5:2379 (several: separated by commas)',
      );
  }
  if (hosts.length === 0) throw new ConfigError('no etcd endpoint given', 'e.g. --etcd http://10.0.0.5:2379');
  return hosts;
}

/** The endpoints, after checking them and the key; throws ConfigError naming the bad one. */
export function checkEtcdTarget(endpoints: string, key: string): string[] {
  const hosts = parseEtcdEndpoints(endpoints);
  if (!key.startsWith('/'))
    throw new ConfigError(`etcd key "${key}" does not start with /`, `e.g. --key ${DEFAULT_POLICY_KEY}`);
  return hosts;
}

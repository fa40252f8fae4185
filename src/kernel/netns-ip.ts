/**
 * `ip` inside a container's network namespace, which runtimes name by path. A path in iproute2's own directory
 * (`/var/run/netns/NAME`, or `/run/netns/NAME` where /var/run is /run, as podman, containerd and the CRI give it)
 * becomes `ip -n NAME`: one process. Any other path (`/proc/PID/ns/net`, Docker's) goes through
 * `nsenter --net=PATH ip`, one exec more (2–3 ms on a small host).
 */
import { realpathSync } from 'node:fs';

/** Where `ip -n NAME` looks for NAME (iproute2's NETNS_RUN_DIR). */
const IPROUTE_NETNS_DIR = '/var/run/netns';
const IN_NETNS_DIR = /^(\/run\/netns|\/var\/run\/netns)\/([^/]+)$/;

const resolved = new Map<string, string | undefined>();
function realDir(path: string): string | undefined {
  if (!resolved.has(path)) {
    try {
      resolved.set(path, realpathSync(path));
    } catch {
      resolved.set(path, undefined);
    }
  }
  return resolved.get(path);
}

/** The name `ip -n` takes for `netns`, or undefined when the path is not in iproute2's directory. */
export function iprouteNetnsName(
  netns: string,
  dirOf: (path: string) => string | undefined = realDir,
): string | undefined {
  const match = IN_NETNS_DIR.exec(netns);
  const [, dir, name] = match ?? [];
  if (dir === undefined || name === undefined || name === '.' || name === '..') return undefined;
  if (dir === IPROUTE_NETNS_DIR) return name;
  const real = dirOf(dir);
  return real !== undefined && real === dirOf(IPROUTE_NETNS_DIR) ? name : undefined;
}

/** argv running `ip ARGS` in the namespace at path `netns`. */
export function ipInNetns(netns: string, args: readonly string[]): string[] {
  const name = iprouteNetnsName(netns);
  return name !== undefined ? ['ip', '-n', name, ...args] : ['nsenter', `--net=${netns}`, 'ip', ...args];
}

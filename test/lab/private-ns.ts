/**
 * What every real runtime daemon of the lab (dockerd, containerd) needs to run inside a lab host without touching
 * the machine: the cgroup v1 hierarchies to mirror into a private mount namespace, the shell guard that refuses to
 * go on outside the lab host's namespaces, and the clean-up that finds what the daemon left (processes in its mount
 * namespace or its cgroups, the cgroups themselves). Only ever touches processes and cgroups under names the lab owns.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, rmdir } from 'node:fs/promises';
import { FanError, errorMessage } from '../../src/core/errors.js';
import type { BackgroundProcess } from '../../src/kernel/exec.js';

export function nsInode(pid: number | 'self', kind: 'mnt' | 'net'): number | undefined {
  try {
    return statSync(`/proc/${pid}/ns/${kind}`).ino;
  } catch {
    return undefined;
  }
}

/** Inodes of the launcher's own mount and network namespaces (the guard scripts refuse to run in them). */
export function launcherNamespaces(): { readonly mnt: number; readonly net: number } {
  const mnt = nsInode('self', 'mnt');
  const net = nsInode('self', 'net');
  if (mnt === undefined || net === undefined)
    throw new FanError('cannot read /proc/self/ns/{mnt,net}', 'run the lab as root on Linux');
  return { mnt, net };
}

export interface CgroupV1Mount {
  readonly name: string;
  readonly options: string;
  readonly mountPoint: string;
}

/** Each cgroup v1 hierarchy mounted under /sys/fs/cgroup (`cpu`: options `cpu`; `systemd`: `none,name=systemd`). */
export async function cgroupV1Mounts(): Promise<CgroupV1Mount[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const mounts: CgroupV1Mount[] = [];
  for (const line of text.split('\n')) {
    const [before, after] = line.split(' - ');
    const mountPoint = before?.split(' ')[4];
    const [fstype, , superOptions] = after?.split(' ') ?? [];
    if (fstype !== 'cgroup' || !mountPoint?.startsWith('/sys/fs/cgroup/') || superOptions === undefined) continue;
    const name = mountPoint.slice('/sys/fs/cgroup/'.length);
    if (!/^[\w.,=-]+$/.test(name)) continue;
    const opts = superOptions.split(',').filter((o) => o !== 'rw' && o !== 'ro');
    const controllers = opts.filter(
      (o) => !o.startsWith('name=') && o !== 'xattr' && o !== 'noprefix' && !o.startsWith('release_agent'),
    );
    const named = opts.filter((o) => o.startsWith('name='));
    const options = [...(controllers.length === 0 ? ['none'] : controllers), ...named].join(',');
    mounts.push({ name, options, mountPoint });
  }
  return mounts;
}

/** `NAME=OPTIONS` arguments for PRIVATE_MOUNTS_SH (`cpu=cpu`, `systemd=none,name=systemd`). */
export async function cgroupMountArgs(): Promise<string[]> {
  return (await cgroupV1Mounts()).map((m) => `${m.name}=${m.options}`);
}

/**
 * Shell lines for a script started as `ip netns exec NS unshare -m --propagation private /bin/sh SCRIPT NS …` with
 * HOST_MNTNS and HOST_NETNS set to the launcher's namespace inodes: refuse (exit 90–93) unless this is NS and both
 * namespaces differ from the launcher's. Uses `$ns`.
 */
export const GUARD_SH = `if [ -z "\${HOST_MNTNS:-}" ] || [ -z "\${HOST_NETNS:-}" ]; then
  echo "refusing: HOST_MNTNS and HOST_NETNS must be set" >&2; exit 90
fi
if [ "$(ip netns identify $$)" != "$ns" ]; then echo "refusing: not in network namespace $ns" >&2; exit 91; fi
if [ "$(stat -L -c %i /proc/self/ns/net)" = "$HOST_NETNS" ]; then
  echo "refusing: still in the launcher network namespace" >&2; exit 92
fi
if [ "$(stat -L -c %i /proc/self/ns/mnt)" = "$HOST_MNTNS" ]; then
  echo "refusing: still in the launcher mount namespace" >&2; exit 93
fi
`;

/**
 * Shell lines, after GUARD_SH, that privatise /run (a daemon would otherwise meet the machine's own containerd and
 * netns mounts) and the cgroup mounts: each remaining argument is `NAME=OPTIONS` of a v1 hierarchy (mirrored, so
 * only hierarchies the machine mounts are mounted inside).
 */
export const PRIVATE_MOUNTS_SH = `mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
for spec in "$@"; do
  name=\${spec%%=*}
  opts=\${spec#*=}
  mkdir -p "/sys/fs/cgroup/$name"
  mount -t cgroup -o "$opts" cgroup "/sys/fs/cgroup/$name"
done
`;

export async function tail(path: string, lines = 20): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** Polls `ready` every 100 ms until it holds, `alive` turns false (error) or `timeoutMs` passes (error). */
export async function waitFor(
  what: string,
  ready: () => Promise<boolean>,
  alive: () => boolean,
  timeoutMs: number,
  log: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ready()) return;
    if (!alive()) throw new FanError(`${what} exited before it was ready; last lines of ${log}:\n${await tail(log)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new FanError(`${what} was not ready after ${timeoutMs} ms; last lines of ${log}:\n${await tail(log)}`);
}

/** True when no mount of this process's view lies under `dir` (so removing it removes files, not mounts). */
export async function noMountsUnder(dir: string): Promise<boolean> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return !text.split('\n').some((l) => l.split(' ')[4]?.startsWith(`${dir}/`) || l.split(' ')[4] === dir);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
export async function stopProcess(p: BackgroundProcess, graceMs = 10_000): Promise<void> {
  if (!p.running()) return;
  try {
    process.kill(p.pid, 'SIGTERM');
  } catch {
    return; // already gone
  }
  const timer = setTimeout(() => {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }, graceMs);
  // The child is unref'd: without a handle of our own, the event loop could end before its exit is reported.
  const keepAlive = setInterval(() => undefined, 1000);
  await p.exited;
  clearInterval(keepAlive);
  clearTimeout(timer);
}

/** Pids of processes in the mount namespace with inode `mountNs` (never this process). */
export async function pidsInMountNs(mountNs: number): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number);
  return pids.filter((pid) => pid !== process.pid && nsInode(pid, 'mnt') === mountNs);
}

/** Every cgroup directory at or under `parent` in the machine's v1 hierarchies, deepest first. */
export async function cgroupDirs(parent: string): Promise<string[]> {
  const dirs: string[] = [];
  const walk = async (path: string): Promise<void> => {
    const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory()) await walk(`${path}/${e.name}`);
    dirs.push(path);
  };
  for (const m of await cgroupV1Mounts()) {
    const top = `${m.mountPoint}${parent}`;
    if (
      await readdir(top).then(
        () => true,
        () => false,
      )
    )
      await walk(top);
  }
  return dirs;
}

export async function pidsInCgroups(parent: string): Promise<number[]> {
  const pids = new Set<number>();
  for (const dir of await cgroupDirs(parent)) {
    const text = await readFile(`${dir}/cgroup.procs`, 'utf8').catch(() => '');
    for (const p of text.split('\n').filter(Boolean)) pids.add(Number(p));
  }
  return [...pids];
}

export function killPids(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** What a stopped daemon may have left: its private mount namespace, its cgroups and its directory. */
export interface DaemonRemains {
  /** Inode of the daemon's own mount namespace; ≤ 0 when unknown (then only the cgroups are swept). */
  readonly mountNs: number;
  readonly cgroupParent: string;
  readonly dir: string;
}

/**
 * After the daemon stopped: kills what is left in its mount namespace or cgroups (only ever processes started under
 * them; never the launcher's own mount namespace, which would be every process of the machine), removes the cgroups
 * and the directory. Returns what had to be forced. `spare`: a pid to leave alone (a holder stopped afterwards);
 * `expectLeftovers`: the first round's kills are by design (containerd leaves shims running) and not reported.
 */
export async function sweepDaemon(
  d: DaemonRemains,
  options: { readonly spare?: number; readonly expectLeftovers?: boolean; readonly attempts?: number } = {},
): Promise<string[]> {
  const forced: string[] = [];
  const ownMountNs = d.mountNs > 0 && d.mountNs !== nsInode('self', 'mnt');
  for (let attempt = 0; attempt < (options.attempts ?? 20); attempt++) {
    const left = [...(ownMountNs ? await pidsInMountNs(d.mountNs) : []), ...(await pidsInCgroups(d.cgroupParent))];
    const kill = left.filter((p) => p !== options.spare);
    if (kill.length === 0) break;
    if (attempt > 0 || !options.expectLeftovers) forced.push(`killed ${kill.join(' ')}`);
    killPids(kill);
    await new Promise((r) => setTimeout(r, 100));
  }
  return forced;
}

/** Removes the daemon's cgroups and directory (after sweepDaemon and after any holder stopped). */
export async function removeDaemonDirs(d: DaemonRemains): Promise<string[]> {
  const forced: string[] = [];
  for (const dir of await cgroupDirs(d.cgroupParent)) {
    await rmdir(dir).catch((error: unknown) => forced.push(`cgroup ${dir}: ${errorMessage(error)}`));
  }
  if (await noMountsUnder(d.dir)) await rm(d.dir, { recursive: true, force: true });
  else forced.push(`${d.dir} still has mounts; not removed`);
  return forced;
}

/** Makes `dir` empty and fresh; refuses when a mount lies under it (a daemon of an earlier run may still hold it). */
export async function freshDir(dir: string): Promise<void> {
  if (existsSync(dir)) {
    if (!(await noMountsUnder(dir)))
      throw new FanError(
        `${dir} has mounts under it`,
        'a daemon of an earlier run may still be running: stop it first',
      );
    await rm(dir, { recursive: true, force: true });
  }
  await mkdir(dir, { recursive: true });
}

/** argv that runs `script ARGS…` with /bin/sh in lab namespace `ns` and a private mount namespace of its own. */
export function inPrivateMountNs(ns: string, script: string, args: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', ns, 'unshare', '-m', '--propagation', 'private', '/bin/sh', script, ...args];
}

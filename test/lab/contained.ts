/**
 * Runs a real daemon (lxd, lxc-start) for one lab host, contained the way dockerd and containerd are, on the shared
 * pieces of test/lab/private-ns.ts (the guard, cgroup mirroring and clean-up):
 *
 * - in the lab host's network namespace (`ip netns exec NS`) and a private mount namespace of its own
 *   (`unshare -m --propagation private`), in which the listed directories (/run first: with the machine's /run a
 *   daemon would talk to the machine's own services) and /sys/fs/cgroup are fresh tmpfs mounts;
 * - started from an argv array, never through `sh -c`: the inner script is a file written here (`contained-ns.sh`),
 *   which refuses to go on unless `ip netns identify` names the lab namespace and both its network and mount
 *   namespaces differ from the launcher's (inode numbers recorded before entering);
 * - the machine's cgroup v1 hierarchies are mirrored inside (only those the machine mounts), and with `joinCgroup`
 *   the script moves itself into `CGROUP_PARENT` in each of them before it execs the daemon, so runtimes that nest
 *   their cgroups under their own (LXC with `lxc.cgroup.relative`) stay under the lab's name;
 * - it ends by exec'ing the daemon, so the launcher's pid is the daemon's pid.
 *
 * `stopContained` stops the daemon by its pid, kills whatever is left in its mount namespace or cgroups (only ever
 * processes started under them), removes the cgroups and the daemon's directory.
 */
import { writeFile } from 'node:fs/promises';
import { FanError } from '../../src/core/errors.js';
import { type BackgroundProcess, startProcess } from '../../src/kernel/exec.js';
import type { LabHost } from '../../src/lab/topology.js';
import {
  GUARD_SH,
  cgroupMountArgs,
  launcherNamespaces,
  nsInode,
  stopProcess,
  removeDaemonDirs,
  sweepDaemon,
  inPrivateMountNs,
} from './private-ns.js';

/** Refusal exit codes of the inner script (90–93): the guard fired and the daemon was never started. */
const INNER_SCRIPT = `#!/bin/sh
# fan lab: one contained daemon for one lab host. Started (argv, no shell) as
#   ip netns exec NS unshare -m --propagation private /bin/sh contained-ns.sh \\
#     NS CGROUP_PARENT [NAME=OPTIONS ...] -- CMD ...
# with HOST_MNTNS and HOST_NETNS set to the inode numbers of the launcher's mount and network namespaces,
# FANLAB_TMPFS the directories to hide under a tmpfs, FANLAB_BINDS "SRC:DST ..." bind mounts to make afterwards and
# FANLAB_JOIN_CGROUP=1 to move into CGROUP_PARENT first.
set -eu
ns=$1; parent=$2; shift 2
${GUARD_SH}for d in \${FANLAB_TMPFS:-}; do mkdir -p "$d"; mount -t tmpfs -o mode=755 tmpfs "$d"; done
mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  name=\${1%%=*}
  opts=\${1#*=}
  shift
  mkdir -p "/sys/fs/cgroup/$name"
  mount -t cgroup -o "$opts" cgroup "/sys/fs/cgroup/$name"
  if [ "\${FANLAB_JOIN_CGROUP:-0}" = 1 ]; then
    mkdir -p "/sys/fs/cgroup/$name$parent"
    # cpuset refuses tasks until the cgroup has cpus and mems
    if [ -f "/sys/fs/cgroup/$name/cpuset.cpus" ]; then
      cat "/sys/fs/cgroup/$name/cpuset.cpus" > "/sys/fs/cgroup/$name$parent/cpuset.cpus"
      cat "/sys/fs/cgroup/$name/cpuset.mems" > "/sys/fs/cgroup/$name$parent/cpuset.mems"
    fi
    echo $$ > "/sys/fs/cgroup/$name$parent/cgroup.procs"
  fi
done
shift
for bind in \${FANLAB_BINDS:-}; do
  mkdir -p "\${bind#*:}"
  mount --bind "\${bind%%:*}" "\${bind#*:}"
done
exec "$@"
`;

export interface ContainedSpec {
  readonly host: LabHost;
  /** The daemon's own directory (script, log, data); created here, removed by stopContained. */
  readonly dir: string;
  /** `/NAME`: the cgroup the daemon's containers live under (starts with the lab's prefix). */
  readonly cgroupParent: string;
  readonly argv: readonly string[];
  /** Directories hidden under a fresh tmpfs inside (default: /run). */
  readonly tmpfs?: readonly string[];
  /** Bind mounts made after the tmpfs mounts: [source outside, target inside]. */
  readonly binds?: readonly (readonly [string, string])[];
  /** Move the daemon into cgroupParent (for runtimes that nest their cgroups under their own). */
  readonly joinCgroup?: boolean;
  readonly env?: Readonly<Record<string, string>>;
  /** Log file name inside dir. */
  readonly logName: string;
}

export interface Contained {
  readonly host: LabHost;
  readonly dir: string;
  readonly cgroupParent: string;
  readonly process: BackgroundProcess;
  /** Inode of the daemon's private mount namespace (every process in it is ours); -1 when unknown. */
  readonly mountNs: number;
  readonly log: string;
}

/** Starts the daemon (see the file comment); the caller waits for it to be ready. `dir` must exist (freshDir). */
export async function startContained(spec: ContainedSpec): Promise<Contained> {
  const script = `${spec.dir}/contained-ns.sh`;
  await writeFile(script, INNER_SCRIPT, { mode: 0o755 });
  const launcher = launcherNamespaces();
  const cgroups = await cgroupMountArgs();
  const log = `${spec.dir}/${spec.logName}`;
  const daemon = startProcess(
    inPrivateMountNs(spec.host.ns, script, [spec.host.ns, spec.cgroupParent, ...cgroups, '--', ...spec.argv]),
    {
      env: {
        ...spec.env,
        HOST_MNTNS: String(launcher.mnt),
        HOST_NETNS: String(launcher.net),
        FANLAB_TMPFS: (spec.tmpfs ?? ['/run']).join(' '),
        FANLAB_BINDS: (spec.binds ?? []).map(([a, b]) => `${a}:${b}`).join(' '),
        FANLAB_JOIN_CGROUP: spec.joinCgroup ? '1' : '0',
      },
      logFile: log,
    },
  );
  return { host: spec.host, dir: spec.dir, cgroupParent: spec.cgroupParent, process: daemon, mountNs: -1, log };
}

/** The mount namespace of a started daemon, checked to be its own; call once it is ready. */
export function ownMountNs(c: Contained): Contained {
  const mountNs = nsInode(c.process.pid, 'mnt');
  if (mountNs === undefined || mountNs === nsInode('self', 'mnt'))
    throw new FanError(`${c.process.argv.join(' ')} (pid ${c.process.pid}) is not in a mount namespace of its own`);
  return { ...c, mountNs };
}

/**
 * Stops the daemon by its pid, then makes sure nothing it started is left: processes in its mount namespace or its
 * cgroups are killed, the cgroups removed, its directory deleted. Returns what had to be forced (empty when the
 * daemon cleaned up after itself).
 */
export async function stopContained(c: Contained, graceMs = 15_000): Promise<string[]> {
  await stopProcess(c.process, graceMs);
  return [...(await sweepDaemon(c)), ...(await removeDaemonDirs(c))];
}

/**
 * A real dockerd (Debian's docker.io 20.10) per lab host, for the Docker end-to-end tests, contained as follows:
 *
 * - it runs in the lab host's network namespace (`ip netns exec NS`) and in a private mount namespace of its own
 *   (`unshare -m --propagation private`), in which /run, /opt and /sys/fs/cgroup are fresh tmpfs mounts;
 * - it is started from an argv array, never through `sh -c`: the inner script is a file written here
 *   (`dockerd-ns.sh`), which refuses to go on unless `ip netns identify` names the lab namespace and both its
 *   network and mount namespaces differ from the launcher's (inode numbers recorded before entering);
 * - dockerd never touches the firewall, forwarding or a default bridge (`--iptables=false --ip-masq=false
 *   --ip-forward=false --bridge=none`); its data, exec root and socket live under `/var/tmp/fanlab-docker/NS`;
 * - containers run under the cgroup parent `/NS` in the machine's cgroup v1 hierarchies (mirrored, not added to:
 *   only hierarchies the machine mounts are mounted inside), removed by `stopDockerd`;
 * - the plugin directory `/run/docker/plugins` inside is a bind mount of `DIR/plugins`, where the fan plugin, which
 *   runs outside that mount namespace, puts `fan.sock`.
 *
 * `stopDockerd` removes the containers, stops dockerd by its pid, kills whatever is left in its mount namespace or
 * cgroups (only ever processes started under them), removes the cgroups and the data directory.
 */
import { root } from '../../src/lab/shell.js';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { errorMessage, FanError } from '../../src/core/errors.js';
import { type BackgroundProcess, startProcess } from '../../src/kernel/exec.js';
import type { RunOptions, RunResult } from '../../src/ports/runner.js';
import { FANCTL } from '../../src/lab/lab.js';
import type { LabHost } from '../../src/lab/topology.js';
import {
  GUARD_SH,
  PRIVATE_MOUNTS_SH,
  cgroupDirs,
  cgroupV1Mounts,
  killPids,
  nsInode,
  noMountsUnder,
  pidsInCgroups,
  pidsInMountNs,
  stopProcess,
  waitFor,
  removeDaemonDirs,
  sweepDaemon,
  inPrivateMountNs,
} from './private-ns.js';

/** Shared with the other lab daemons; re-exported for the tests that import them from here. */
export { cgroupV1Mounts, stopProcess };

/** The docker.io 20.10 CLI (a newer CLI may come first in PATH and speak an API version dockerd 20.10 refuses). */
export const DOCKER_CLI = '/usr/bin/docker';
export const DOCKERD = 'dockerd';
export const LAB_DOCKER_ROOT = '/var/tmp/fanlab-docker';
/** The image every lab container runs: busybox-static, imported from a tarball (no registry). */
export const LAB_IMAGE = 'busybox:fan';

/** Refusal exit codes of the inner script (90–93): the guard fired and dockerd was never started. */
const INNER_SCRIPT = `#!/bin/sh
# fan lab: dockerd for one lab host. Started (argv, no shell) as
#   ip netns exec NS unshare -m --propagation private /bin/sh dockerd-ns.sh NS DIR CGROUP_PARENT [NAME=OPTIONS ...]
# with HOST_MNTNS and HOST_NETNS set to the inode numbers of the launcher's mount and network namespaces.
# It refuses to run outside NS or in the launcher's namespaces, privatises /run, /opt and the cgroup mounts, and
# ends by exec'ing dockerd (so the launcher's pid is dockerd's pid).
set -eu
ns=$1; dir=$2; parent=$3; shift 3
${GUARD_SH}# /run first: with the machine's /run, dockerd would talk to a system containerd.
${PRIVATE_MOUNTS_SH}mount -t tmpfs -o mode=755 tmpfs /opt
mkdir -p /run/docker/plugins
mount --bind "$dir/plugins" /run/docker/plugins
exec ${DOCKERD} --config-file "$dir/daemon.json" \\
  --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" -H "unix://$dir/docker.sock" \\
  --storage-driver overlay2 --cgroup-parent "$parent" \\
  --iptables=false --ip-masq=false --ip-forward=false --bridge=none
`;

export interface LabDockerd {
  readonly host: LabHost;
  readonly dir: string;
  readonly socket: string;
  /** Bind-mounted onto /run/docker/plugins inside dockerd's mount namespace. */
  readonly pluginDir: string;
  readonly cgroupParent: string;
  readonly process: BackgroundProcess;
  /** Inode of dockerd's private mount namespace (every process in it is ours). */
  readonly mountNs: number;
  readonly log: string;
}

/** The docker CLI against a lab dockerd; its client config stays in the lab directory, not in ~/.docker. */
export function docker(
  d: Pick<LabDockerd, 'socket'>,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const config = `${d.socket.slice(0, d.socket.lastIndexOf('/'))}/cli`;
  return root.run(['env', `DOCKER_CONFIG=${config}`, DOCKER_CLI, '-H', `unix://${d.socket}`, ...args], {
    timeoutMs: 60_000,
    ...options,
  });
}

/** Starts dockerd in `host`'s network namespace (see the file comment); resolves once `docker info` answers. */
export async function startDockerd(
  host: LabHost,
  options: { timeoutMs?: number; keepData?: boolean } = {},
): Promise<LabDockerd> {
  const dir = `${LAB_DOCKER_ROOT}/${host.ns}`;
  if (existsSync(dir)) {
    if (!(await noMountsUnder(dir)))
      throw new FanError(
        `${dir} has mounts under it`,
        'a dockerd of an earlier run may still be running: stop it first',
      );
    // keepData: a restart after crashDockerd, with the containers and networks dockerd had recorded.
    if (!options.keepData) await rm(dir, { recursive: true, force: true });
    // The exec root is runtime state (on /run, a tmpfs, normally): a dead containerd's pid file and socket there
    // would make dockerd wait for that containerd instead of starting its own.
    else
      for (const stale of ['exec', 'docker.pid', 'docker.sock'])
        await rm(`${dir}/${stale}`, { recursive: true, force: true });
  }
  const pluginDir = `${dir}/plugins`;
  await mkdir(pluginDir, { recursive: true });
  // Our own config file, so any /etc/docker/daemon.json is ignored; the trust key (dockerd 20.10 writes one) would
  // otherwise go to /etc/docker/key.json on the machine. `deprecated-key-path` is settable only in the file.
  await writeFile(`${dir}/daemon.json`, `${JSON.stringify({ 'deprecated-key-path': `${dir}/key.json` })}\n`);
  const script = `${dir}/dockerd-ns.sh`;
  await writeFile(script, INNER_SCRIPT, { mode: 0o755 });
  const hostMnt = nsInode('self', 'mnt');
  const hostNet = nsInode('self', 'net');
  if (hostMnt === undefined || hostNet === undefined)
    throw new FanError('cannot read /proc/self/ns/{mnt,net}', 'run the lab as root on Linux');
  const cgroupParent = `/${host.ns}`;
  const cgroups = (await cgroupV1Mounts()).map((m) => `${m.name}=${m.options}`);
  const log = `${dir}/dockerd.log`;
  const daemon = startProcess(inPrivateMountNs(host.ns, script, [host.ns, dir, cgroupParent, ...cgroups]), {
    env: { HOST_MNTNS: String(hostMnt), HOST_NETNS: String(hostNet) },
    logFile: log,
  });
  const socket = `${dir}/docker.sock`;
  const partial = { host, dir, socket, pluginDir, cgroupParent, process: daemon, log };
  try {
    await waitFor(
      `dockerd of ${host.ns}`,
      async () =>
        existsSync(socket) &&
        (await docker({ socket }, ['info', '--format', '{{.ServerVersion}}'], { allowFailure: true, timeoutMs: 5_000 }))
          .exitCode === 0,
      () => daemon.running(),
      options.timeoutMs ?? 30_000,
      log,
    );
    const mountNs = nsInode(daemon.pid, 'mnt');
    if (mountNs === undefined || mountNs === hostMnt)
      throw new FanError(`dockerd (pid ${daemon.pid}) is not in a mount namespace of its own`);
    return { ...partial, mountNs };
  } catch (error) {
    await stopDockerd({ ...partial, mountNs: nsInode(daemon.pid, 'mnt') ?? -1 }).catch(() => undefined);
    throw error;
  }
}

/**
 * Removes every container, stops dockerd (SIGTERM, by pid), then makes sure nothing it started is left: processes
 * in its mount namespace or its cgroups are killed, the cgroups removed, the data directory deleted. Returns what
 * had to be forced (empty when dockerd cleaned up after itself).
 */
export async function stopDockerd(d: LabDockerd): Promise<string[]> {
  if (d.process.running()) {
    const ids = (await docker(d, ['ps', '-aq'], { allowFailure: true, timeoutMs: 15_000 })).stdout
      .split('\n')
      .filter(Boolean);
    if (ids.length > 0) await docker(d, ['rm', '-f', ...ids], { allowFailure: true, timeoutMs: 30_000 });
  }
  await stopProcess(d.process, 15_000);
  const forced = [...(await sweepDaemon(d)), ...(await removeDaemonDirs(d))];
  await rmdir(LAB_DOCKER_ROOT).catch(() => undefined); // only when empty: another host's dockerd may still run
  return forced;
}

/**
 * A crash of the whole Docker stack: SIGKILL to dockerd (by pid) and to everything left in its mount namespace and
 * cgroups (containerd, shims, containers), cgroups removed; the data directory stays for `startDockerd(host,
 * { keepData: true })`. Returns what was killed.
 */
export async function crashDockerd(d: LabDockerd): Promise<string[]> {
  const killed: string[] = [];
  if (d.process.running()) {
    killPids([d.process.pid]);
    killed.push(`dockerd ${d.process.pid}`);
    // Polled, not awaited: the child is unref'd, so its exit alone would not keep the event loop alive.
    for (let i = 0; i < 100 && d.process.running(); i++) await new Promise((r) => setTimeout(r, 100));
  }
  const ownMountNs = d.mountNs > 0 && d.mountNs !== nsInode('self', 'mnt');
  for (let attempt = 0; attempt < 20; attempt++) {
    const left = [...(ownMountNs ? await pidsInMountNs(d.mountNs) : []), ...(await pidsInCgroups(d.cgroupParent))];
    if (left.length === 0) break;
    killed.push(`killed ${left.join(' ')}`);
    killPids(left);
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const dir of await cgroupDirs(d.cgroupParent)) await rmdir(dir).catch(() => undefined);
  return killed;
}

/** Imports the busybox tarball as LAB_IMAGE. */
export async function importImage(d: LabDockerd, tarball: string): Promise<void> {
  await docker(d, ['import', tarball, LAB_IMAGE]);
}

/**
 * Starts `fanctl docker-plugin` in `host`'s network namespace with its state dir, serving DIR/plugins/fan.sock
 * (which dockerd sees as /run/docker/plugins/fan.sock); resolves when the socket exists.
 */
export async function startFanPlugin(
  d: LabDockerd,
  extraEnv: Readonly<Record<string, string>> = {},
  extraArgs: readonly string[] = ['--no-reclaim'],
): Promise<BackgroundProcess> {
  const socket = `${d.pluginDir}/fan.sock`;
  const log = `${d.dir}/fan-plugin.log`;
  const p = startProcess(
    [
      'ip',
      'netns',
      'exec',
      d.host.ns,
      process.execPath,
      FANCTL,
      'docker-plugin',
      '--socket',
      socket,
      '--verbose',
      ...extraArgs,
    ],
    {
      env: { FAN_STATE_DIR: d.host.stateDir, ...extraEnv },
      logFile: log,
    },
  );
  try {
    await waitFor(
      `fanctl docker-plugin on ${d.host.ns}`,
      () => Promise.resolve(existsSync(socket)),
      () => p.running(),
      15_000,
      log,
    );
  } catch (error) {
    await stopProcess(p);
    throw error;
  }
  return p;
}

/**
 * After a crash (nothing recorded): kills what lab dockerds of `prefix` left (processes in the cgroups
 * `/<prefix>-…`, processes whose command line names `LAB_DOCKER_ROOT/<prefix>-…`), removes those cgroups and the
 * data directories. Only ever touches processes and files under names the lab owns.
 */
export async function sweepLabDocker(prefix: string): Promise<string[]> {
  const swept: string[] = [];
  const mine = `${LAB_DOCKER_ROOT}/${prefix}-`;
  const parents = new Set<string>();
  for (const m of await cgroupV1Mounts()) {
    for (const entry of await readdir(m.mountPoint).catch(() => [] as string[]))
      if (entry.startsWith(`${prefix}-`)) parents.add(`/${entry}`);
  }
  for (let attempt = 0; attempt < 20; attempt++) {
    const pids = new Set<number>();
    for (const parent of parents) for (const pid of await pidsInCgroups(parent)) pids.add(pid);
    for (const pid of (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number)) {
      if (pid === process.pid) continue;
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmd.includes(mine)) pids.add(pid);
    }
    if (pids.size === 0) break;
    swept.push(`killed ${[...pids].join(' ')}`);
    killPids([...pids]);
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const parent of parents) {
    for (const dir of await cgroupDirs(parent))
      await rmdir(dir).catch((error: unknown) => swept.push(`cgroup ${dir}: ${errorMessage(error)}`));
  }
  for (const entry of await readdir(LAB_DOCKER_ROOT).catch(() => [] as string[])) {
    if (!entry.startsWith(`${prefix}-`)) continue;
    await rm(`${LAB_DOCKER_ROOT}/${entry}`, { recursive: true, force: true });
    swept.push(`removed ${LAB_DOCKER_ROOT}/${entry}`);
  }
  await rmdir(LAB_DOCKER_ROOT).catch(() => undefined);
  return swept;
}

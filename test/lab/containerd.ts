/**
 * A real containerd (Debian's containerd 1.6 + runc) with its CRI plugin per lab host, for the Kubernetes
 * end-to-end tests, contained like the lab's dockerd (docker.ts), with one difference: containerd must be
 * restartable while its pods run, so the private mount namespace outlives it.
 *
 * - A holder process (`holder.sh`, started as `ip netns exec NS unshare -m --propagation private`) owns the private
 *   mount namespace: it checks it is in NS and not in the launcher's namespaces (private-ns.ts), replaces /run and
 *   the cgroup v1 hierarchies with private mounts, binds the lab's fan state dir back under /run (the fan CNI plugin
 *   runs inside, and finds its leases there), gives /var/lib/cni (libcni's cache) a directory of the lab, then
 *   waits. Pod network namespaces (/run/netns/cni-…), shim sockets (/run/containerd/s) and runc state live there,
 *   invisible to the machine, and survive a containerd restart.
 * - containerd is started with `nsenter` into the holder's mount namespace and NS's network namespace, through a
 *   script that refuses to run unless both are what the launcher recorded; its root, state, socket and runc root
 *   are under DIR (`/var/tmp/<lab>-containerd/NS`); pods run under the cgroup parent `/NS`.
 * - The CRI plugin: `restrict_oom_score_adj` (the machine has no CAP_SYS_RESOURCE), no AppArmor, runc v2 with
 *   cgroupfs, the CNI directories `fanctl cni install` wrote, and a pause image built here (busybox-static's sleep).
 *
 * `stopLabContainerd` removes every pod through CRI (so CNI DEL runs), stops containerd by pid, kills whatever is
 * left in the holder's mount namespace or the pods' cgroups (only processes started under them), removes the
 * cgroups and DIR.
 */
import { root } from '../../src/lab/shell.js';
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, readdir, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { errorMessage, FanError } from '../../src/core/errors.js';
import { type BackgroundProcess, startProcess } from '../../src/kernel/exec.js';
import type { RunResult } from '../../src/ports/runner.js';
import type { LabHost } from '../../src/lab/topology.js';
import { BUSYBOX } from './busybox.js';
import { REFERENCE_PLUGIN_DIR } from './cni-runtime.js';
import { CriClient } from './cri-client.js';
import {
  GUARD_SH,
  PRIVATE_MOUNTS_SH,
  cgroupDirs,
  cgroupMountArgs,
  cgroupV1Mounts,
  killPids,
  launcherNamespaces,
  noMountsUnder,
  nsInode,
  pidsInCgroups,
  pidsInMountNs,
  stopProcess,
  tail,
  waitFor,
  freshDir,
  removeDaemonDirs,
  sweepDaemon,
  inPrivateMountNs,
} from './private-ns.js';

export const CONTAINERD = '/usr/bin/containerd';
export const CTR = '/usr/bin/ctr';
export const RUNC = '/usr/sbin/runc';
/** The CRI plugin's containerd namespace. */
export const K8S_NAMESPACE = 'k8s.io';
/** The sandbox image the tests build and import (no registry is reachable). */
export const PAUSE_IMAGE = 'fan.lab/pause:1';

/** Refusal exit codes 90–93 (GUARD_SH); the bound paths follow the cgroup arguments' count. */
const HOLDER_SCRIPT = `#!/bin/sh
# fan lab: the private mount namespace of one lab host's containerd. Started (argv, no shell) as
#   ip netns exec NS unshare -m --propagation private /bin/sh holder.sh NS DIR N KEEP_1..KEEP_N [NAME=OPTIONS ...]
# with HOST_MNTNS and HOST_NETNS set to the inode numbers of the launcher's mount and network namespaces.
set -eu
ns=$1; dir=$2; n=$3; shift 3
${GUARD_SH}# Paths under /run that must stay visible (the lab's fan state): bound aside before /run is replaced.
i=0; keep=""
while [ "$i" -lt "$n" ]; do
  mkdir -p "$dir/keep/$i"; mount --bind "$1" "$dir/keep/$i"; keep="$keep $1"; shift; i=$((i + 1))
done
${PRIVATE_MOUNTS_SH}i=0
for path in $keep; do
  mkdir -p "$path"; mount --bind "$dir/keep/$i" "$path"; umount "$dir/keep/$i"; i=$((i + 1))
done
# libcni caches results in /var/lib/cni: a directory of the lab instead of the machine's.
mkdir -p "$dir/cni-cache"
if [ ! -d /var/lib/cni ]; then mount -t tmpfs -o mode=755 tmpfs /var/lib; mkdir /var/lib/cni; fi
mount --bind "$dir/cni-cache" /var/lib/cni
echo ready > "$dir/holder.ready"
# Waits for ever with DIR in its command line, so a sweep after a crash finds it.
exec tail -f "$dir/holder.ready"
`;

/** Refusal exit codes 94–97: containerd was never started. */
const CONTAINERD_SCRIPT = `#!/bin/sh
# fan lab: containerd of one lab host, started as
#   nsenter --mount=/proc/HOLDER/ns/mnt --net=/var/run/netns/NS /bin/sh containerd.sh DIR
# with EXPECT_MNTNS/EXPECT_NETNS (the holder's and NS's inodes) and HOST_MNTNS/HOST_NETNS (the launcher's).
set -eu
dir=$1
mnt=$(stat -L -c %i /proc/self/ns/mnt); net=$(stat -L -c %i /proc/self/ns/net)
if [ "$mnt" != "\${EXPECT_MNTNS:-}" ]; then echo "refusing: not in the holder's mount namespace" >&2; exit 94; fi
if [ "$net" != "\${EXPECT_NETNS:-}" ]; then echo "refusing: not in the lab host's network namespace" >&2; exit 95; fi
if [ "$mnt" = "\${HOST_MNTNS:-}" ]; then echo "refusing: in the launcher mount namespace" >&2; exit 96; fi
if [ "$net" = "\${HOST_NETNS:-}" ]; then echo "refusing: in the launcher network namespace" >&2; exit 97; fi
exec ${CONTAINERD} --config "$dir/config.toml"
`;

export interface ContainerdOptions {
  /** Parent of the per-host directories; named under the lab's prefix. */
  readonly root: string;
  /** What `fanctl cni install --dir` wrote (the `fan` plugin); loopback and portmap are linked next to it. */
  readonly cniBinDir: string;
  /** What `fanctl cni install --conf-dir` wrote (the conflist). */
  readonly cniConfDir: string;
  /** Paths under /run the CNI plugin needs inside (the lab's state dir). */
  readonly keep: readonly string[];
  /** A docker-archive tarball of PAUSE_IMAGE (buildPauseImage). */
  readonly pauseImage: string;
  readonly timeoutMs?: number;
}

export interface LabContainerd {
  readonly host: LabHost;
  readonly dir: string;
  readonly socket: string;
  readonly cgroupParent: string;
  readonly holder: BackgroundProcess;
  /** Inode of the holder's private mount namespace (every process in it is ours). */
  readonly mountNs: number;
  readonly log: string;
  /** The running containerd (replaced by restartContainerd). */
  process: BackgroundProcess;
  cri: CriClient;
}

function toml(text: string): string {
  return JSON.stringify(text); // a TOML basic string is a JSON string for the paths used here
}

export function renderContainerdConfig(dir: string, cniBinDir: string, cniConfDir: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = ${toml(`${dir}/root`)}
state = ${toml(`${dir}/state`)}

[grpc]
  address = ${toml(`${dir}/containerd.sock`)}

[debug]
  level = "info"

[plugins."io.containerd.internal.v1.opt"]
  path = ${toml(`${dir}/opt`)}

[${cri}]
  sandbox_image = ${toml(PAUSE_IMAGE)}
  # No CAP_SYS_RESOURCE here: runc could not lower the sandbox's oom_score_adj to -998.
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[${cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[${cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  BinaryName = ${toml(RUNC)}
  Root = ${toml(`${dir}/runc`)}

[${cri}.cni]
  bin_dir = ${toml(cniBinDir)}
  conf_dir = ${toml(cniConfDir)}
  max_conf_num = 1
`;
}

/** ctr against a lab containerd (runs outside its mount namespace: it only talks to the socket). */
export function ctr(
  d: Pick<LabContainerd, 'socket'>,
  args: readonly string[],
  allowFailure = false,
): Promise<RunResult> {
  return root.run([CTR, '--address', d.socket, '--namespace', K8S_NAMESPACE, ...args], {
    timeoutMs: 60_000,
    allowFailure,
  });
}

function goArch(): string {
  const arches: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };
  return arches[process.arch] ?? process.arch;
}

/**
 * Builds `<dir>/pause.tar`, a docker-archive image PAUSE_IMAGE whose only file is busybox-static and whose
 * entrypoint sleeps for ever (a pod sandbox only holds the pod's namespaces; containerd stops it with SIGKILL).
 */
export async function buildPauseImage(dir: string): Promise<string> {
  const work = `${dir}/pause-image`;
  await rm(work, { recursive: true, force: true });
  await mkdir(`${work}/rootfs/bin`, { recursive: true });
  await copyFile(BUSYBOX, `${work}/rootfs/bin/busybox`);
  await chmod(`${work}/rootfs/bin/busybox`, 0o755);
  await root.run([
    'tar',
    '--numeric-owner',
    '--owner=0',
    '--group=0',
    '-C',
    `${work}/rootfs`,
    '-cf',
    `${work}/layer.tar`,
    '.',
  ]);
  const layerDigest = createHash('sha256')
    .update(await readFile(`${work}/layer.tar`))
    .digest('hex');
  const config = JSON.stringify({
    architecture: goArch(),
    os: 'linux',
    config: { Entrypoint: ['/bin/busybox', 'sleep', 'infinity'], WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
  });
  const configDigest = createHash('sha256').update(config).digest('hex');
  await writeFile(`${work}/${configDigest}.json`, config);
  await mkdir(`${work}/${layerDigest}`);
  await root.run(['mv', `${work}/layer.tar`, `${work}/${layerDigest}/layer.tar`]);
  const manifest = [{ Config: `${configDigest}.json`, RepoTags: [PAUSE_IMAGE], Layers: [`${layerDigest}/layer.tar`] }];
  await writeFile(`${work}/manifest.json`, JSON.stringify(manifest));
  const tar = `${dir}/pause.tar`;
  await root.run(['tar', '-C', work, '-cf', tar, 'manifest.json', `${configDigest}.json`, `${layerDigest}/layer.tar`]);
  await rm(work, { recursive: true, force: true });
  return tar;
}

/** Links the reference plugins containerd's CRI needs (loopback, always; portmap, chained by the conflist). */
export async function linkReferencePlugins(
  binDir: string,
  plugins: readonly string[] = ['loopback', 'portmap'],
): Promise<void> {
  for (const p of plugins) {
    await rm(`${binDir}/${p}`, { force: true });
    await symlink(`${REFERENCE_PLUGIN_DIR}/${p}`, `${binDir}/${p}`);
  }
}

async function startDaemon(
  d: Omit<LabContainerd, 'process' | 'cri'>,
  timeoutMs: number,
): Promise<{ process: BackgroundProcess; cri: CriClient }> {
  const host = launcherNamespaces();
  const netns = existsSync(`/var/run/netns/${d.host.ns}`) ? statSync(`/var/run/netns/${d.host.ns}`).ino : undefined;
  if (netns === undefined) throw new FanError(`network namespace ${d.host.ns} does not exist`, 'create the lab first');
  const daemon = startProcess(
    [
      'nsenter',
      `--mount=/proc/${d.holder.pid}/ns/mnt`,
      `--net=/var/run/netns/${d.host.ns}`,
      '/bin/sh',
      `${d.dir}/containerd.sh`,
      d.dir,
    ],
    {
      env: {
        EXPECT_MNTNS: String(d.mountNs),
        EXPECT_NETNS: String(netns),
        HOST_MNTNS: String(host.mnt),
        HOST_NETNS: String(host.net),
      },
      logFile: d.log,
    },
  );
  const cri = new CriClient(d.socket);
  try {
    await waitFor(
      `containerd of ${d.host.ns}`,
      async () =>
        existsSync(d.socket) &&
        (await cri.version().then(
          () => true,
          () => false,
        )),
      () => daemon.running(),
      timeoutMs,
      d.log,
    );
    if (nsInode(daemon.pid, 'mnt') !== d.mountNs)
      throw new FanError(`containerd (pid ${daemon.pid}) is not in the holder's mount namespace`);
    return { process: daemon, cri };
  } catch (error) {
    cri.close();
    await stopProcess(daemon, 5_000);
    throw error;
  }
}

/**
 * Starts the holder and containerd for `host` (see the file comment), imports the pause image; resolves once CRI
 * answers Version and the image is in the k8s.io namespace.
 */
export async function startLabContainerd(host: LabHost, options: ContainerdOptions): Promise<LabContainerd> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const dir = `${options.root}/${host.ns}`;
  await freshDir(dir);
  await writeFile(`${dir}/holder.sh`, HOLDER_SCRIPT, { mode: 0o755 });
  await writeFile(`${dir}/containerd.sh`, CONTAINERD_SCRIPT, { mode: 0o755 });
  await writeFile(`${dir}/config.toml`, renderContainerdConfig(dir, options.cniBinDir, options.cniConfDir));
  await linkReferencePlugins(options.cniBinDir);
  const launcher = launcherNamespaces();
  const log = `${dir}/containerd.log`;
  const holder = startProcess(
    inPrivateMountNs(host.ns, `${dir}/holder.sh`, [
      host.ns,
      dir,
      String(options.keep.length),
      ...options.keep,
      ...(await cgroupMountArgs()),
    ]),
    { env: { HOST_MNTNS: String(launcher.mnt), HOST_NETNS: String(launcher.net) }, logFile: `${dir}/holder.log` },
  );
  const base = { host, dir, socket: `${dir}/containerd.sock`, cgroupParent: `/${host.ns}`, holder, log };
  let mountNs = -1;
  try {
    await waitFor(
      `mount namespace holder of ${host.ns}`,
      () => Promise.resolve(existsSync(`${dir}/holder.ready`)),
      () => holder.running(),
      15_000,
      `${dir}/holder.log`,
    );
    mountNs = nsInode(holder.pid, 'mnt') ?? -1;
    if (mountNs < 0 || mountNs === launcher.mnt)
      throw new FanError(`the holder (pid ${holder.pid}) is not in a mount namespace of its own`);
    const started = await startDaemon({ ...base, mountNs }, timeoutMs);
    const d: LabContainerd = { ...base, mountNs, ...started };
    await ctr(d, ['images', 'import', options.pauseImage]).catch(async (error: unknown) => {
      throw new FanError(`ctr images import failed: ${errorMessage(error)}\n${await tail(log)}`);
    });
    return d;
  } catch (error) {
    await stopLabContainerd({ ...base, mountNs, process: holder, cri: new CriClient(base.socket) }).catch(
      () => undefined,
    );
    throw error;
  }
}

/** Stops containerd by its pid (SIGTERM) and starts it again in the same mount namespace; pods keep running. */
export async function restartContainerd(
  d: LabContainerd,
  timeoutMs = 60_000,
): Promise<{ stoppedPid: number; startedPid: number }> {
  const stoppedPid = d.process.pid;
  d.cri.close();
  await stopProcess(d.process, 15_000);
  const started = await startDaemon(d, timeoutMs);
  d.process = started.process;
  d.cri = started.cri;
  return { stoppedPid, startedPid: started.process.pid };
}

/** Runs argv inside the holder's mount namespace and the host's network namespace (to look at /run/netns, …). */
export function inHolder(d: LabContainerd, argv: readonly string[], allowFailure = false): Promise<RunResult> {
  return root.run(['nsenter', `--mount=/proc/${d.holder.pid}/ns/mnt`, `--net=/var/run/netns/${d.host.ns}`, ...argv], {
    allowFailure,
    timeoutMs: 30_000,
  });
}

/**
 * Removes every pod through CRI (CNI DEL releases their addresses), stops containerd and the holder by pid, then
 * kills what is left in the holder's mount namespace or the pods' cgroups, removes the cgroups and DIR. Returns
 * what had to be forced (empty when everything went away by itself).
 */
export async function stopLabContainerd(d: LabContainerd): Promise<string[]> {
  const forced: string[] = [];
  if (d.process.running() && d.process !== d.holder) {
    const pods = await d.cri.listPodSandbox().catch(() => []);
    for (const pod of pods) {
      await d.cri
        .stopPodSandbox(pod.id)
        .catch((error: unknown) => forced.push(`stop ${pod.id}: ${errorMessage(error)}`));
      await d.cri
        .removePodSandbox(pod.id)
        .catch((error: unknown) => forced.push(`remove ${pod.id}: ${errorMessage(error)}`));
    }
  }
  d.cri.close();
  if (d.process !== d.holder) await stopProcess(d.process, 15_000);
  // Shims and pause processes: containerd leaves them running by design.
  forced.push(...(await sweepDaemon(d, { spare: d.holder.pid, expectLeftovers: true, attempts: 30 })));
  await stopProcess(d.holder, 5_000);
  forced.push(...(await removeDaemonDirs(d)));
  return forced;
}

/**
 * After a crash (nothing recorded): kills processes whose command line names `root/<prefix>-…` and everything in
 * their mount namespaces (never the launcher's), and processes in the cgroups `/<prefix>-…`; removes those cgroups
 * and `root`. Only ever touches processes and files under names the lab owns.
 */
export async function sweepLabContainerd(root: string, prefix: string): Promise<string[]> {
  const swept: string[] = [];
  const mine = `${root}/${prefix}-`;
  const own = nsInode('self', 'mnt');
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
      if (!cmd.includes(mine)) continue;
      pids.add(pid);
      const ns = nsInode(pid, 'mnt');
      if (ns !== undefined && ns !== own) for (const p of await pidsInMountNs(ns)) pids.add(p);
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
  if (existsSync(root)) {
    if (await noMountsUnder(root)) {
      await rm(root, { recursive: true, force: true });
      swept.push(`removed ${root}`);
    } else swept.push(`${root} still has mounts; not removed`);
  }
  return swept;
}

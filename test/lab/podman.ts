/**
 * podman (Debian's 4.3, CNI backend) on a lab host, for the CNI end-to-end test. Each run enters the host's
 * network namespace and a private mount namespace in which /run and /var/lib are fresh tmpfs (the lab directory
 * is carried over), so podman's container namespaces, runc's state and libcni's cache never appear on the machine.
 * Storage (vfs), run root, events and the CNI directories all live under the lab directory. Containers run under
 * the cgroup parent `/<lab>` (removed by `removeLabCgroups`). The image is a busybox-static root filesystem.
 */
import { root } from '../../src/lab/shell.js';
import { mkdir, readdir, rmdir, writeFile } from 'node:fs/promises';
import type { RunResult } from '../../src/ports/runner.js';
import type { LabHost, LabTopology } from '../../src/lab/topology.js';

export const IMAGE = 'localhost/fan-busybox:latest';

export interface PodmanHost {
  readonly host: LabHost;
  /** Per-host podman directory: storage, run root, containers.conf. */
  readonly dir: string;
  /** CNI plugin and configuration directories (from `fanctl cni install`). */
  readonly cniBin: string;
  readonly cniConf: string;
  readonly cgroupParent: string;
}

/** Prepares a host's podman directory and configuration. */
export async function podmanHost(
  topo: LabTopology,
  host: LabHost,
  cni: { bin: string; conf: string },
): Promise<PodmanHost> {
  const dir = `${topo.stateDir}/podman-${host.name}`;
  for (const d of ['root', 'runroot', 'tmp']) await mkdir(`${dir}/${d}`, { recursive: true });
  await writeFile(
    `${dir}/containers.conf`,
    [
      '[containers]',
      // The machine's hard limits are below podman's defaults, and it may not raise them.
      'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
      '[network]',
      'network_backend = "cni"',
      `cni_plugin_dirs = ["${cni.bin}", "/usr/lib/cni"]`,
      `network_config_dir = "${cni.conf}"`,
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = "${dir}/events.log"`,
      'runtime = "runc"',
      `tmp_dir = "${dir}/tmp"`,
      '',
    ].join('\n'),
  );
  return { host, dir, cniBin: cni.bin, cniConf: cni.conf, cgroupParent: `/${topo.prefix}` };
}

/** The shell prologue: refuse the machine's namespaces, privatise /run and /var/lib, define $P (podman). */
function prologue(p: PodmanHost, labRoot: string): string {
  return `set -e
[ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ] || \
{ echo "refusing: the machine's mount namespace" >&2; exit 1; }
[ "$(readlink /proc/self/ns/net)" != "$(readlink /proc/1/ns/net)" ] || \
{ echo "refusing: the machine's network namespace" >&2; exit 1; }
mount --rbind ${labRoot} /var/lib
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p ${labRoot} /run/netns
mount --move /var/lib ${labRoot}
mount -t tmpfs -o mode=755 tmpfs /var/lib
export CONTAINERS_CONF=${p.dir}/containers.conf
P="podman --root ${p.dir}/root --runroot ${p.dir}/runroot --storage-driver vfs --cgroup-manager cgroupfs"
`;
}

/**
 * Runs `body` (sh, with $P = podman) inside the host's network namespace and a private mount namespace.
 * Never rejects on a non-zero exit: the caller asserts on the result.
 */
export async function inPodmanHost(p: PodmanHost, body: string, timeoutMs: number): Promise<RunResult> {
  const labRoot = '/run/fanlab';
  const script = `${p.dir}/run-${Date.now()}-${Math.random().toString(16).slice(2)}.sh`;
  await writeFile(script, `${prologue(p, labRoot)}\n${body}\n`, { mode: 0o755 });
  return root.run(
    ['nsenter', `--net=/run/netns/${p.host.ns}`, 'unshare', '-m', '--propagation', 'private', 'sh', script],
    { allowFailure: true, timeoutMs },
  );
}

/** `$P run` options every lab container uses. */
export function runOptions(p: PodmanHost): string {
  return `--cgroup-parent=${p.cgroupParent}`;
}

/** Removes the (empty) cgroups podman left under /<lab> in every v1 hierarchy; non-empty ones stay. */
export async function removeLabCgroups(prefix: string): Promise<void> {
  const base = '/sys/fs/cgroup';
  const hierarchies = await readdir(base).catch(() => [] as string[]);
  const removeTree = async (path: string): Promise<void> => {
    const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory()) await removeTree(`${path}/${e.name}`);
    await rmdir(path).catch(() => undefined);
  };
  for (const h of hierarchies) await removeTree(`${base}/${h}/${prefix}`);
}

/**
 * A real dockerd (Debian's docker.io 20.10) per lab host, for the Docker end-to-end tests, contained as every lab
 * daemon is (test/lab/contained.ts: the lab host's network namespace, a private mount namespace in which /run, /opt
 * and /sys/fs/cgroup are fresh tmpfs mounts, started from an argv array behind a guard script), and further:
 *
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
import { existsSync } from 'node:fs';
import { readFile, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { errorMessage } from '../../src/core/errors.js';
import { type BackgroundProcess, ExecRunner, startProcess } from '../../src/kernel/exec.js';
import type { RunOptions, RunResult } from '../../src/ports/runner.js';
import { FANCTL } from '../../src/lab/lab.js';
import type { LabHost } from '../../src/lab/topology.js';
import {
  type Contained,
  cgroupDirs,
  cgroupV1Mounts,
  freshDir,
  killPids,
  ownMountNs,
  pidsInCgroups,
  startContained,
  stopContained,
  stopProcess,
  waitFor,
} from './contained.js';

export { cgroupV1Mounts, stopProcess } from './contained.js';

/** The docker.io 20.10 CLI (a newer CLI may come first in PATH and speak an API version dockerd 20.10 refuses). */
export const DOCKER_CLI = '/usr/bin/docker';
export const DOCKERD = 'dockerd';
export const LAB_DOCKER_ROOT = '/var/tmp/fanlab-docker';
/** The image every lab container runs: busybox-static, imported from a tarball (no registry). */
export const LAB_IMAGE = 'busybox:fan';

const root = new ExecRunner();

export interface LabDockerd extends Contained {
  readonly socket: string;
  /** Bind-mounted onto /run/docker/plugins inside dockerd's mount namespace. */
  readonly pluginDir: string;
}

/** The docker CLI against a lab dockerd; its client config stays in the lab directory, not in ~/.docker. */
export function docker(d: Pick<LabDockerd, 'socket'>, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const config = `${d.socket.slice(0, d.socket.lastIndexOf('/'))}/cli`;
  return root.run(['env', `DOCKER_CONFIG=${config}`, DOCKER_CLI, '-H', `unix://${d.socket}`, ...args], { timeoutMs: 60_000, ...options });
}

/** Starts dockerd in `host`'s network namespace (see the file comment); resolves once `docker info` answers. */
export async function startDockerd(host: LabHost, options: { timeoutMs?: number } = {}): Promise<LabDockerd> {
  const dir = `${LAB_DOCKER_ROOT}/${host.ns}`;
  await freshDir(dir);
  const pluginDir = `${dir}/plugins`;
  await freshDir(pluginDir);
  // Our own config file, so any /etc/docker/daemon.json is ignored; the trust key (dockerd 20.10 writes one) would
  // otherwise go to /etc/docker/key.json on the machine. `deprecated-key-path` is settable only in the file.
  await writeFile(`${dir}/daemon.json`, `${JSON.stringify({ 'deprecated-key-path': `${dir}/key.json` })}\n`);
  const cgroupParent = `/${host.ns}`;
  const contained = await startContained({
    host,
    dir,
    cgroupParent,
    tmpfs: ['/run', '/opt'],
    binds: [[pluginDir, '/run/docker/plugins']],
    logName: 'dockerd.log',
    argv: [
      DOCKERD, '--config-file', `${dir}/daemon.json`,
      '--data-root', `${dir}/data`, '--exec-root', `${dir}/exec`, '--pidfile', `${dir}/docker.pid`, '-H', `unix://${dir}/docker.sock`,
      '--storage-driver', 'overlay2', '--cgroup-parent', cgroupParent,
      '--iptables=false', '--ip-masq=false', '--ip-forward=false', '--bridge=none',
    ],
  });
  const socket = `${dir}/docker.sock`;
  const partial: LabDockerd = { ...contained, socket, pluginDir };
  try {
    await waitFor(
      `dockerd of ${host.ns}`,
      async () => existsSync(socket) && (await docker({ socket }, ['info', '--format', '{{.ServerVersion}}'], { allowFailure: true, timeoutMs: 5_000 })).exitCode === 0,
      () => contained.process.running(),
      options.timeoutMs ?? 30_000,
      contained.log,
    );
    return { ...ownMountNs(contained), socket, pluginDir };
  } catch (error) {
    await stopDockerd(partial).catch(() => undefined);
    throw error;
  }
}

/**
 * Removes every container, stops dockerd (SIGTERM, by pid), then makes sure nothing it started is left
 * (stopContained). Returns what had to be forced (empty when dockerd cleaned up after itself).
 */
export async function stopDockerd(d: LabDockerd): Promise<string[]> {
  if (d.process.running()) {
    const ids = (await docker(d, ['ps', '-aq'], { allowFailure: true, timeoutMs: 15_000 })).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await docker(d, ['rm', '-f', ...ids], { allowFailure: true, timeoutMs: 30_000 });
  }
  const forced = await stopContained(d);
  await rmdir(LAB_DOCKER_ROOT).catch(() => undefined); // only when empty: another host's dockerd may still run
  return forced;
}

/** Imports the busybox tarball as LAB_IMAGE. */
export async function importImage(d: LabDockerd, tarball: string): Promise<void> {
  await docker(d, ['import', tarball, LAB_IMAGE]);
}

/**
 * Starts `fanctl docker-plugin` in `host`'s network namespace with its state dir, serving DIR/plugins/fan.sock
 * (which dockerd sees as /run/docker/plugins/fan.sock); resolves when the socket exists.
 */
export async function startFanPlugin(d: LabDockerd, extraEnv: Readonly<Record<string, string>> = {}): Promise<BackgroundProcess> {
  const socket = `${d.pluginDir}/fan.sock`;
  const log = `${d.dir}/fan-plugin.log`;
  const p = startProcess(['ip', 'netns', 'exec', d.host.ns, process.execPath, FANCTL, 'docker-plugin', '--socket', socket, '--verbose'], {
    env: { FAN_STATE_DIR: d.host.stateDir, ...extraEnv },
    logFile: log,
  });
  try {
    await waitFor(`fanctl docker-plugin on ${d.host.ns}`, () => Promise.resolve(existsSync(socket)), () => p.running(), 15_000, log);
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
    for (const entry of await readdir(m.mountPoint).catch(() => [] as string[])) if (entry.startsWith(`${prefix}-`)) parents.add(`/${entry}`);
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
    for (const dir of await cgroupDirs(parent)) await rmdir(dir).catch((error: unknown) => swept.push(`cgroup ${dir}: ${errorMessage(error)}`));
  }
  for (const entry of await readdir(LAB_DOCKER_ROOT).catch(() => [] as string[])) {
    if (!entry.startsWith(`${prefix}-`)) continue;
    await rm(`${LAB_DOCKER_ROOT}/${entry}`, { recursive: true, force: true });
    swept.push(`removed ${LAB_DOCKER_ROOT}/${entry}`);
  }
  await rmdir(LAB_DOCKER_ROOT).catch(() => undefined);
  return swept;
}

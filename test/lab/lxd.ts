/**
 * A real LXD (Debian's lxd 5.0) per lab host, for the LXD end-to-end tests, contained as every lab daemon is
 * (test/lab/contained.ts), and further:
 *
 * - its own `LXD_DIR` and `LXD_CONF` under `/var/tmp/fanlx-lxd/NS` (the machine's /var/lib/lxd is never used);
 * - `lxd init --preseed`: no networks, no HTTPS listener, a `dir` storage pool inside that directory, image
 *   auto-update off; the default profile holds the root disk and `lxc.cgroup.relative = 1`, so LXC creates each
 *   instance's cgroups under the daemon's own, `/NS-lxd`, which stopLxd removes;
 * - images come from a busybox tree plus `metadata.yaml` (`lxc image import`), whose init brings up eth0 with
 *   busybox's udhcpc (the lease's address, router and nothing else: the MTU is the profile's).
 */
import { chmod, mkdir, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { FanError } from '../../src/core/errors.js';
import { ExecRunner } from '../../src/kernel/exec.js';
import { FANCTL } from '../../src/lab/lab.js';
import type { LabHost } from '../../src/lab/topology.js';
import type { RunOptions, RunResult } from '../../src/ports/runner.js';
import { buildBusyboxTree } from './busybox.js';
import { type Contained, ownMountNs, startContained, stopContained } from './contained.js';
import { freshDir, waitFor } from './private-ns.js';

export const LAB_LXD_ROOT = '/var/tmp/fanlx-lxd';
export const LXD_IMAGE = 'fanbusybox';
const root = new ExecRunner();

export interface LabLxd extends Contained {
  readonly lxdDir: string;
  readonly lxdConf: string;
}

/** The environment the lxc client (and fanctl lxd) needs to find this daemon. */
export function lxdEnv(d: Pick<LabLxd, 'lxdDir' | 'lxdConf'>): string[] {
  return [`LXD_DIR=${d.lxdDir}`, `LXD_CONF=${d.lxdConf}`];
}

/** The lxc client against a lab LXD. */
export function lxc(
  d: Pick<LabLxd, 'lxdDir' | 'lxdConf'>,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  return root.run(['env', ...lxdEnv(d), 'lxc', ...args], { timeoutMs: 120_000, ...options });
}

/** fanctl inside the lab host, with its state dir and this LXD's client environment. */
export function fanctlLxd(d: LabLxd, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return root.run(
    [
      'ip',
      'netns',
      'exec',
      d.host.ns,
      'env',
      `FAN_STATE_DIR=${d.host.stateDir}`,
      ...lxdEnv(d),
      process.execPath,
      FANCTL,
      ...args,
    ],
    { timeoutMs: 120_000, ...options },
  );
}

function preseed(dir: string): string {
  return `config:
  images.auto_update_interval: "0"
networks: []
storage_pools:
- name: default
  driver: dir
  config:
    source: ${dir}/pool
profiles:
- name: default
  config:
    raw.lxc: "lxc.cgroup.relative = 1"
  devices:
    root:
      path: /
      pool: default
      type: disk
`;
}

/** Starts LXD in `host`'s network namespace and initialises it; resolves once it answers. */
export async function startLxd(host: LabHost, options: { timeoutMs?: number } = {}): Promise<LabLxd> {
  const dir = `${LAB_LXD_ROOT}/${host.ns}`;
  await freshDir(dir);
  const lxdDir = `${dir}/lxd`;
  const lxdConf = `${dir}/conf`;
  for (const d of [lxdDir, lxdConf, `${dir}/pool`]) await mkdir(d, { recursive: true });
  const contained = await startContained({
    host,
    dir,
    cgroupParent: `/${host.ns}-lxd`,
    joinCgroup: true,
    logName: 'lxd.log',
    env: { LXD_DIR: lxdDir },
    argv: ['lxd', '--group', 'root', '--logfile', `${dir}/lxd-daemon.log`],
  });
  const partial: LabLxd = { ...contained, lxdDir, lxdConf };
  try {
    await waitFor(
      `lxd of ${host.ns}`,
      async () =>
        existsSync(`${lxdDir}/unix.socket`) &&
        (
          await root.run(['env', ...lxdEnv(partial), 'lxd', 'waitready', '--timeout', '2'], {
            allowFailure: true,
            timeoutMs: 5_000,
          })
        ).exitCode === 0,
      () => contained.process.running(),
      options.timeoutMs ?? 60_000,
      contained.log,
    );
    const d: LabLxd = { ...ownMountNs(contained), lxdDir, lxdConf };
    await root.run(['env', ...lxdEnv(d), 'lxd', 'init', '--preseed'], { input: preseed(dir), timeoutMs: 60_000 });
    return d;
  } catch (error) {
    await stopLxd(partial).catch(() => undefined);
    throw error;
  }
}

/** Names of the instances of a lab LXD. */
export async function instances(d: LabLxd): Promise<string[]> {
  const out = await lxc(d, ['list', '--format', 'csv', '-c', 'n'], { allowFailure: true, timeoutMs: 30_000 });
  return out.exitCode === 0
    ? out.stdout
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
    : [];
}

/** Deletes every instance, stops lxd by its pid, removes what is left (stopContained); returns what was forced. */
export async function stopLxd(d: LabLxd): Promise<string[]> {
  if (d.process.running()) {
    for (const name of await instances(d))
      await lxc(d, ['delete', '--force', name], { allowFailure: true, timeoutMs: 60_000 });
  }
  const forced = await stopContained(d);
  await rmdir(LAB_LXD_ROOT).catch(() => undefined); // only when empty: another host's lxd may still run
  return forced;
}

const INITTAB = '::sysinit:/etc/init.d/rcS\n::respawn:/bin/sleep 1000000\n';
const RCS = `#!/bin/sh
ip link set lo up
ip link set eth0 up
# -b: go to the background when no lease comes at once; the script applies each lease.
udhcpc -i eth0 -b -t 30 -T 1 -s /usr/share/udhcpc/default.script > /run/udhcpc.log 2>&1
`;
const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip route replace default via "$router" dev "$interface"
    ;;
esac
exit 0
`;

/** Builds `<dir>/lxd-busybox.tar.gz`: a unified LXD image (metadata.yaml + rootfs/) whose init asks DHCP for eth0. */
export async function buildLxdImage(dir: string): Promise<string> {
  const work = `${dir}/lxd-image`;
  const rootfs = `${work}/rootfs`;
  await buildBusyboxTree(rootfs);
  for (const d of ['sbin', 'etc/init.d', 'usr/share/udhcpc', 'run', 'var'])
    await mkdir(`${rootfs}/${d}`, { recursive: true });
  await symlink('../bin/busybox', `${rootfs}/sbin/init`);
  await writeFile(`${rootfs}/etc/inittab`, INITTAB);
  await writeFile(`${rootfs}/etc/init.d/rcS`, RCS);
  await writeFile(`${rootfs}/usr/share/udhcpc/default.script`, UDHCPC_SCRIPT);
  await chmod(`${rootfs}/etc/init.d/rcS`, 0o755);
  await chmod(`${rootfs}/usr/share/udhcpc/default.script`, 0o755);
  await writeFile(
    `${work}/metadata.yaml`,
    'architecture: x86_64\ncreation_date: 1764547200\n' +
      'properties:\n  description: busybox for the fan lab\n  os: busybox\n  release: "1.35"\n',
  );
  const tarball = `${dir}/lxd-busybox.tar.gz`;
  await root.run(['tar', '-C', work, '-czf', tarball, 'metadata.yaml', 'rootfs']);
  await rm(work, { recursive: true, force: true });
  return tarball;
}

export async function importLxdImage(d: LabLxd, tarball: string): Promise<void> {
  await lxc(d, ['image', 'import', tarball, '--alias', LXD_IMAGE]);
}

/** The IPv4 address of an instance's eth0, polling until DHCP gave one (bounded). */
export async function instanceAddress(d: LabLxd, name: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const out = await lxc(d, ['exec', name, '--', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'], {
      allowFailure: true,
      timeoutMs: 15_000,
    });
    const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(out.stdout);
    if (m?.[1]) return m[1];
    await new Promise((r) => setTimeout(r, 250));
  }
  const log = await lxc(d, ['exec', name, '--', 'cat', '/run/udhcpc.log'], { allowFailure: true });
  throw new FanError(
    `instance ${name} on ${d.host.ns} got no DHCP address in ${timeoutMs} ms; udhcpc: ${log.stdout.trim()}`,
  );
}

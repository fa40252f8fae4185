/**
 * Clean Debian 12 roots for package tests, cached under /var/cache/fanpk-debian so a second run is fast:
 *   base/           `debootstrap --variant=minbase bookworm` from the mirror apt is configured with;
 *   root-<hash>/    base + the package's dependencies from that mirror (apt-get, inside the chroot) + the packages a
 *                   test needs besides (systemd for systemd-analyze, ifupdown), keyed by the package list;
 *   nodejs_….deb    this machine's Node.js >= 20 package rebuilt with dpkg-repack: Debian 12 ships Node 18, and
 *                   the NodeSource repository it came from is not reachable here.
 * A test copies a cached root to a directory of its own and runs commands in it with chroot, inside a private
 * mount namespace (unshare) that also holds its /proc: nothing is mounted in the machine's namespace.
 */
import { createHash } from 'node:crypto';
import { access, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { ExecRunner } from '../../src/kernel/exec.js';
import type { RunResult } from '../../src/ports/runner.js';

export const CACHE_DIR = '/var/cache/fanpk-debian';
const root = new ExecRunner();
const PATH = 'PATH=/usr/sbin:/usr/bin:/sbin:/bin';

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/** The Debian mirror of this machine's apt sources (deb.debian.org when none is found). */
export async function debianMirror(): Promise<string> {
  const texts: string[] = [];
  for (const file of [
    '/etc/apt/sources.list',
    ...(await readdir('/etc/apt/sources.list.d').catch(() => [])).map((f) => `/etc/apt/sources.list.d/${f}`),
  ]) {
    texts.push(await readFile(file, 'utf8').catch(() => ''));
  }
  const text = texts.join('\n');
  // deb822 (`URIs: …` with `Suites: bookworm`) or one-line (`deb URI bookworm main`) entries of the main archive.
  const uris = [
    ...text.matchAll(/^URIs:\s*(\S+)/gm),
    ...text.matchAll(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/gm),
  ].map((m) => m[1] ?? '');
  return uris.find((u) => /\/debian\/?$/.test(u)) ?? 'http://deb.debian.org/debian';
}

/**
 * Runs argv inside `dir` (chroot), with /proc mounted in a private mount namespace; with `netns`, inside that
 * network namespace, with its /sys mounted too.
 */
export function inRoot(
  dir: string,
  argv: readonly string[],
  options: { allowFailure?: boolean; timeoutMs?: number; input?: string; netns?: string } = {},
): Promise<RunResult> {
  const { netns, ...runOptions } = options;
  const mounts =
    netns === undefined ? 'mount -t proc proc /proc' : 'mount -t proc proc /proc && mount -t sysfs sysfs /sys';
  return root.run(
    [
      ...(netns === undefined ? [] : ['ip', 'netns', 'exec', netns]),
      'unshare',
      '--mount',
      '--propagation',
      'private',
      '--fork',
      'chroot',
      dir,
      '/usr/bin/env',
      '-i',
      PATH,
      'DEBIAN_FRONTEND=noninteractive',
      'LC_ALL=C',
      '/bin/sh',
      '-c',
      `${mounts} && exec "$@"`,
      'sh',
      ...argv,
    ],
    { timeoutMs: 600_000, ...runOptions },
  );
}

async function debianBase(): Promise<string> {
  const base = `${CACHE_DIR}/base`;
  if (await exists(`${base}/etc/debian_version`)) return base;
  const temp = `${CACHE_DIR}/base.tmp`;
  await rm(temp, { recursive: true, force: true });
  await root.run(['mkdir', '-p', CACHE_DIR]);
  await root.run(['debootstrap', '--variant=minbase', 'bookworm', temp, await debianMirror()], { timeoutMs: 900_000 });
  await rename(temp, base);
  return base;
}

/** This machine's nodejs package (>= 20), rebuilt as a .deb. */
export async function nodejsDeb(): Promise<string> {
  const version = (await root.run(['dpkg-query', '-W', '-f', '${Version}', 'nodejs'])).stdout.trim();
  if (!/^(2\d|[3-9]\d)\./.test(version))
    throw new Error(`the installed nodejs is ${version || 'missing'}; the package needs nodejs >= 20`);
  const existing = (await readdir(CACHE_DIR)).find(
    (f) => f.startsWith(`nodejs_${version.replace(/:/g, '%3a')}_`) && f.endsWith('.deb'),
  );
  if (existing) return `${CACHE_DIR}/${existing}`;
  const work = `${CACHE_DIR}/repack.tmp`;
  await rm(work, { recursive: true, force: true });
  await root.run(['mkdir', '-p', work]);
  await root.run(['sh', '-c', `cd ${work} && dpkg-repack nodejs`], { timeoutMs: 600_000 });
  const built = (await readdir(work)).find((f) => f.endsWith('.deb'));
  if (!built) throw new Error('dpkg-repack nodejs produced no .deb');
  await rename(`${work}/${built}`, `${CACHE_DIR}/${built}`);
  await rm(work, { recursive: true, force: true });
  return `${CACHE_DIR}/${built}`;
}

/** Package names of a Depends field, first alternative, without versions (nodejs excluded: it comes repacked). */
export function dependencyNames(depends: string): string[] {
  return depends
    .split(',')
    .map((d) => (d.split('|')[0] ?? '').replace(/\(.*\)/, '').trim())
    .filter((d) => d !== '' && d !== 'nodejs');
}

/**
 * A cached root with `depends` (a Depends field) and `extra` packages installed from the mirror. Built once per
 * package list; the returned directory must only be copied, never changed.
 */
export async function preparedRoot(
  depends: string,
  extra: readonly string[],
  log: (line: string) => void = () => {},
): Promise<string> {
  const node = await nodejsDeb();
  const packages = [...dependencyNames(depends), ...extra];
  const key = createHash('sha256')
    .update(`${packages.join(' ')} ${node}`)
    .digest('hex')
    .slice(0, 12);
  const dir = `${CACHE_DIR}/root-${key}`;
  if (await exists(`${dir}/.fanpk-ready`)) return dir;
  log(`building ${dir}: debootstrap minbase + ${packages.join(' ')} + ${node}`);
  const base = await debianBase();
  const temp = `${dir}.tmp`;
  await rm(temp, { recursive: true, force: true });
  await root.run(['cp', '-a', base, temp]);
  await root.run(['cp', '/etc/resolv.conf', `${temp}/etc/resolv.conf`]);
  // No service may start inside the chroot.
  await writeFile(`${temp}/usr/sbin/policy-rc.d`, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  await root.run(['cp', node, `${temp}/tmp/nodejs.deb`]);
  await inRoot(temp, ['apt-get', 'update', '-qq']);
  await inRoot(temp, ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', '/tmp/nodejs.deb', ...packages]);
  await inRoot(temp, ['apt-get', 'clean']);
  await rm(`${temp}/tmp/nodejs.deb`);
  await writeFile(`${temp}/.fanpk-ready`, `${packages.join(' ')}\n`);
  await rename(temp, dir);
  return dir;
}

/** A private copy of a prepared root at `dir` (replaced when it exists). */
export async function copyRoot(prepared: string, dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await root.run(['cp', '-a', prepared, dir]);
}

/**
 * Plain LXC (Debian's lxc 5.0) containers on a lab host, for the LXC end-to-end test: `lxc-create -t busybox` into
 * an lxcpath of the lab's own (`/var/tmp/fanlx-lxc/NS/<name>`), `lxc-start -F` contained as every lab daemon is
 * (test/lab/contained.ts: the lab host's network namespace, a private mount namespace, and the cgroup `/NS-lxc-NAME`,
 * under which `lxc.cgroup.relative = 1` keeps the container's own cgroups). The lxc-start process is the container's
 * monitor, so its pid is the one stopLxc stops.
 */
import { readFile, rmdir, writeFile } from 'node:fs/promises';
import { FanError } from '../../src/core/errors.js';
import { ExecRunner } from '../../src/kernel/exec.js';
import type { LabHost } from '../../src/lab/topology.js';
import type { RunOptions, RunResult } from '../../src/ports/runner.js';
import { type Contained, ownMountNs, startContained, stopContained } from './contained.js';
import { freshDir, waitFor } from './private-ns.js';

export const LAB_LXC_ROOT = '/var/tmp/fanlx-lxc';
const root = new ExecRunner();

export interface LabLxc extends Contained {
  readonly name: string;
  readonly lxcpath: string;
}

/** An lxc-* tool for a container of `host`, run in the host's network namespace (the monitor's socket lives there). */
export function lxcTool(
  host: LabHost,
  tool: string,
  name: string,
  lxcpath: string,
  args: readonly string[] = [],
  options: RunOptions = {},
): Promise<RunResult> {
  return root.run(['ip', 'netns', 'exec', host.ns, tool, '-n', name, '-P', lxcpath, ...args], {
    timeoutMs: 60_000,
    ...options,
  });
}

/**
 * Creates container `name` from the busybox template with `netLines` (fanctl lxc-config's output) as its network
 * config, optionally edits its rootfs (`prepare`), starts it and waits until it runs.
 */
export async function startLxc(
  host: LabHost,
  name: string,
  netLines: string,
  prepare?: (rootfs: string) => Promise<void>,
): Promise<LabLxc> {
  const dir = `${LAB_LXC_ROOT}/${host.ns}-${name}`;
  await freshDir(dir);
  const lxcpath = `${dir}/path`;
  const config = `${dir}/net.conf`;
  await writeFile(config, `${netLines.trimEnd()}\nlxc.cgroup.relative = 1\n`);
  await root.run(['lxc-create', '-t', 'busybox', '-n', name, '-P', lxcpath, '-f', config], { timeoutMs: 120_000 });
  if (prepare) await prepare(`${lxcpath}/${name}/rootfs`);
  const contained = await startContained({
    host,
    dir,
    cgroupParent: `/${host.ns}-lxc-${name}`,
    joinCgroup: true,
    logName: 'lxc-start.log',
    argv: ['lxc-start', '-F', '-n', name, '-P', lxcpath, '-o', `${dir}/lxc.log`, '-l', 'INFO'],
  });
  const partial: LabLxc = { ...contained, name, lxcpath };
  try {
    await waitFor(
      `lxc-start ${name} on ${host.ns}`,
      async () =>
        (
          await lxcTool(host, 'lxc-info', name, lxcpath, ['-s'], { allowFailure: true, timeoutMs: 10_000 })
        ).stdout.includes('RUNNING'),
      () => contained.process.running(),
      60_000,
      contained.log,
    );
    return { ...ownMountNs(contained), name, lxcpath };
  } catch (error) {
    const log = await readFile(`${dir}/lxc.log`, 'utf8').catch(() => '');
    await stopLxc(partial).catch(() => undefined);
    throw new FanError(
      `${error instanceof Error ? error.message : String(error)}\nlxc.log:\n${log.split('\n').slice(-15).join('\n')}`,
    );
  }
}

/** Runs a command inside the container. */
export function lxcAttach(c: LabLxc, argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return lxcTool(c.host, 'lxc-attach', c.name, c.lxcpath, ['--', ...argv], options);
}

/** The container's eth0 IPv4 address, polling until it has one (bounded). */
export async function lxcAddress(c: LabLxc, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const out = await lxcAttach(c, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'], {
      allowFailure: true,
      timeoutMs: 10_000,
    });
    const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(out.stdout);
    if (m?.[1]) return m[1];
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new FanError(`LXC container ${c.name} on ${c.host.ns} has no address after ${timeoutMs} ms`);
}

/** Stops the container (lxc-stop -k, then its monitor by pid) and removes what is left, its lxcpath included. */
export async function stopLxc(c: LabLxc): Promise<string[]> {
  if (c.process.running())
    await lxcTool(c.host, 'lxc-stop', c.name, c.lxcpath, ['-k'], { allowFailure: true, timeoutMs: 30_000 });
  const forced = await stopContained(c);
  await rmdir(LAB_LXC_ROOT).catch(() => undefined); // only when empty
  return forced;
}

/**
 * `fanctl install-service`: writes fan's systemd units (and a default /etc/network/fan and /etc/default/fan when
 * absent) on a host without the Debian package, from the same renderer the package uses (src/service/units.ts).
 * Plans first (what each file becomes), then writes each changed file atomically (temp file + rename).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FAN_AGENT_SERVICE, FAN_SERVICE, type ServiceLayout, serviceFiles } from '../service/units.js';

export type ServiceFileAction = 'written' | 'unchanged' | 'kept';

export interface InstallServiceReport {
  readonly root: string;
  readonly files: readonly { readonly path: string; readonly action: ServiceFileAction }[];
  /** What to run next (systemd is not touched: with --root there may be no running systemd to ask). */
  readonly next: readonly string[];
}

function join(root: string, path: string): string {
  return root === '/' ? path : `${root.replace(/\/+$/, '')}${path}`;
}

export async function installService(layout: ServiceLayout, root: string): Promise<InstallServiceReport> {
  const planned = await Promise.all(
    serviceFiles(layout).map(async (file) => {
      const target = join(root, file.path);
      const existing = await readFile(target, 'utf8').catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      const action: ServiceFileAction =
        existing === undefined
          ? 'written'
          : file.keepExisting
            ? 'kept'
            : existing === file.content
              ? 'unchanged'
              : 'written';
      return { file, target, action };
    }),
  );
  for (const { file, target, action } of planned) {
    if (action !== 'written') continue;
    await mkdir(dirname(target), { recursive: true });
    const temp = `${target}.fan-new`;
    await writeFile(temp, file.content, { mode: file.mode });
    await rename(temp, target);
  }
  const units = `${FAN_SERVICE} ${FAN_AGENT_SERVICE}`;
  return {
    root,
    files: planned.map((p) => ({ path: p.file.path, action: p.action })),
    next:
      root === '/'
        ? ['systemctl daemon-reload', `systemctl enable --now ${units}`]
        : [`systemctl --root=${root} enable ${units}`],
  };
}

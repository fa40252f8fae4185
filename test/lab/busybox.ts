/**
 * The lab's container image: a root filesystem of Debian's busybox-static and its applets, packed as a tarball that
 * `docker import` and `podman import` take. No registry is needed (or reachable). The same tree, with an init,
 * becomes an LXD image (test/lab/lxd.ts).
 */
import { root } from '../../src/lab/shell.js';
import { chmod, copyFile, mkdir, rm, symlink, writeFile } from 'node:fs/promises';

export const BUSYBOX = '/bin/busybox';

/** Fills `rootfs` (emptied first) with busybox, a link per applet and a root user. */
export async function buildBusyboxTree(rootfs: string): Promise<void> {
  await rm(rootfs, { recursive: true, force: true });
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root'])
    await mkdir(`${rootfs}/${d}`, { recursive: true });
  await copyFile(BUSYBOX, `${rootfs}/bin/busybox`);
  await chmod(`${rootfs}/bin/busybox`, 0o755);
  const applets = (await root.run([BUSYBOX, '--list'])).stdout
    .split('\n')
    .filter((a) => /^[\w.[-]+$/.test(a) && a !== 'busybox');
  for (const applet of applets) await symlink('busybox', `${rootfs}/bin/${applet}`).catch(() => undefined);
  await writeFile(`${rootfs}/etc/passwd`, 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(`${rootfs}/etc/group`, 'root:x:0:\n');
}

/** Builds `<dir>/busybox.tar` and returns its path. */
export async function buildBusyboxTarball(dir: string): Promise<string> {
  const rootfs = `${dir}/rootfs`;
  await buildBusyboxTree(rootfs);
  const tar = `${dir}/busybox.tar`;
  await root.run(['tar', '-C', rootfs, '-cf', tar, '.']);
  await rm(rootfs, { recursive: true, force: true });
  return tar;
}

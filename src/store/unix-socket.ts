/** A server listening on a unix socket file whose mode is exactly the one asked for, from the first instant. */
import { chmod, unlink } from 'node:fs/promises';
import type { Server } from 'node:net';
import { StateError, errorMessage } from '../core/errors.js';

/**
 * Listens on `socket` under a tight umask (so it is never more open than `mode`, even for an instant), then sets
 * `mode` explicitly (the umask cannot open it wider). On failure nothing is left listening.
 */
export async function listenUnixSocket(server: Server, socket: string, mode: number): Promise<void> {
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(umask);
  }
  try {
    await chmod(socket, mode);
  } catch (error) {
    server.close();
    await unlink(socket).catch(() => undefined);
    throw new StateError(
      `cannot set the permissions of ${socket}: ${errorMessage(error)}`,
      'check the socket directory',
    );
  }
}

/**
 * Serves the plugin over HTTP on a unix socket, where Docker looks for it (/run/docker/plugins/fan.sock). A stale
 * socket file (no process answers on it) is replaced; a live one is an error. `close` stops accepting calls,
 * ends open connections and removes the socket file.
 */
import { mkdir, unlink } from 'node:fs/promises';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { StateError, errorMessage } from '../core/errors.js';
import { listenUnixSocket } from '../store/unix-socket.js';
import { dispatchDockerCall } from './dispatcher.js';
import type { DockerHandler } from './plugin.js';
import { DockerProtocolError, PLUGIN_CONTENT_TYPE, errorBody } from './protocol.js';

export interface CallRecord {
  readonly path: string;
  readonly status: number;
  readonly ms: number;
  readonly request: string;
  readonly response: string;
}

export interface DockerPluginServer {
  readonly socket: string;
  close(): Promise<void>;
}

/** True when a process accepts connections on `socket`. */
function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(socket);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/** Largest request body accepted (Docker's are a few hundred bytes). */
const MAX_BODY = 1 << 20;

export async function serveDockerPlugin(
  socket: string,
  /** Permissions of the socket file, set explicitly (the umask does not decide who may drive the plugin). */
  mode: number,
  handlers: Readonly<Record<string, DockerHandler>>,
  onCall: (record: CallRecord) => void,
): Promise<DockerPluginServer> {
  await mkdir(dirname(socket), { recursive: true });
  if (await answers(socket)) {
    throw new StateError(
      `another process serves ${socket}`,
      'stop the other fan docker-plugin first, or pass another --socket',
    );
  }
  await unlink(socket).catch(() => undefined); // stale file of a plugin that died
  const server = createServer((req, res) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const text = Buffer.concat(chunks).toString('utf8');
      const answering =
        size > MAX_BODY
          ? Promise.resolve({
              status: 413,
              body: errorBody(new DockerProtocolError(413, `the body of ${path} is over ${MAX_BODY} bytes`)),
            })
          : dispatchDockerCall(handlers, path, text);
      void answering.then((answer) => {
        const response = JSON.stringify(answer.body);
        res.writeHead(answer.status, {
          'Content-Type': PLUGIN_CONTENT_TYPE,
          'Content-Length': Buffer.byteLength(response),
        });
        res.end(response);
        onCall({ path, status: answer.status, ms: Date.now() - started, request: text, response });
      });
    });
    req.on('error', (error) =>
      onCall({ path: req.url ?? '?', status: 0, ms: Date.now() - started, request: '', response: errorMessage(error) }),
    );
  });
  await listenUnixSocket(server, socket, mode);
  let closed: Promise<void> | undefined;
  return {
    socket,
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => unlink(socket).catch(() => undefined));
      return closed;
    },
  };
}

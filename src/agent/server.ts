/**
 * The agent's CNI endpoint: a unix stream socket, root-only (mode 0600, set explicitly after listen; the umask is
 * tightened during listen so the socket is never reachable by others, even for a moment). Each connection carries
 * one request frame (protocol.ts); the handler's answer goes back as one response frame, then the connection is
 * closed. Calls run concurrently. A stale socket file (nothing accepts on it) is replaced; a live one is an error.
 */
import { mkdir, unlink } from 'node:fs/promises';
import { type Socket, connect, createServer } from 'node:net';
import { dirname } from 'node:path';
import { Buffer } from 'node:buffer';
import { StateError, errorMessage } from '../core/errors.js';
import { listenUnixSocket } from '../store/unix-socket.js';
import { type AgentRequest, type AgentResponse, type FrameError, decodeRequest, encodeResponse } from './protocol.js';

export type AgentHandler = (request: AgentRequest) => Promise<AgentResponse>;

export interface AgentCallRecord {
  readonly command: string;
  readonly exitCode: number;
  readonly ms: number;
}

export interface AgentServer {
  readonly socket: string;
  /** Stops accepting, waits for the calls in progress, removes the socket file. */
  close(): Promise<void>;
}

export const SOCKET_MODE = 0o600;

/** True when a process accepts connections on `socket`. */
export function socketAnswers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(socket);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

function frameErrorResponse(message: string): AgentResponse {
  const doc = {
    cniVersion: '1.0.0',
    code: 6,
    msg: `fan agent: malformed request: ${message}`,
    details: 'use the fan forwarder of the same fan version as the agent',
  };
  return { exitCode: 1, stdout: `${JSON.stringify(doc)}\n`, stderr: '' };
}

export async function serveAgent(
  socket: string,
  handle: AgentHandler,
  onCall: (record: AgentCallRecord) => void = () => {},
): Promise<AgentServer> {
  await mkdir(dirname(socket), { recursive: true, mode: 0o755 });
  if (await socketAnswers(socket)) {
    throw new StateError(
      `another process serves ${socket}`,
      'stop the other fan agent first (it logs its pid), or pass another --socket',
    );
  }
  await unlink(socket).catch(() => undefined); // left by an agent that died
  const inFlight = new Set<Promise<void>>();
  const open = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (conn) => {
    open.add(conn);
    conn.on('close', () => open.delete(conn));
    conn.on('error', () => undefined); // the forwarder went away: the call still completes (DEL/ADD repair the rest)
    let buffered = Buffer.alloc(0);
    let started = false;
    const answer = (response: AgentResponse): void => {
      if (!conn.destroyed) conn.end(encodeResponse(response));
    };
    conn.on('data', (chunk: Buffer) => {
      if (started) return;
      buffered = Buffer.concat([buffered, chunk]);
      let decoded;
      try {
        decoded = decodeRequest(buffered);
      } catch (error) {
        started = true;
        answer(frameErrorResponse((error as FrameError).message));
        return;
      }
      if (!decoded) return;
      started = true;
      const begin = Date.now();
      const call = handle(decoded.request)
        .catch(
          (error: unknown): AgentResponse => ({
            exitCode: 1,
            stdout: `${JSON.stringify({ cniVersion: '1.0.0', code: 999, msg: `fan agent: ${errorMessage(error)}` })}\n`,
            stderr: '',
          }),
        )
        .then((response) => {
          answer(response);
          onCall({
            command: decoded.request.env.CNI_COMMAND ?? '?',
            exitCode: response.exitCode,
            ms: Date.now() - begin,
          });
        });
      inFlight.add(call);
      void call.finally(() => inFlight.delete(call));
    });
    conn.on('end', () => {
      if (!started) conn.end(); // closed before a whole request arrived: nothing to do
    });
  });
  await listenUnixSocket(server, socket, SOCKET_MODE);
  let closed: Promise<void> | undefined;
  return {
    socket,
    close: () => {
      closed ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await Promise.allSettled([...inFlight]);
        for (const conn of open) conn.destroy();
        await stopped;
        await unlink(socket).catch(() => undefined);
      })();
      return closed;
    },
  };
}

/**
 * One plugin call, from its path and body text to an HTTP status and JSON answer: looks the handler up, parses the
 * JSON, and turns every error into `{"Err": …}` with a non-2xx status (protocol.ts). No sockets here (server.ts).
 */
import { type DockerHandler, unknownCall } from './plugin.js';
import { DockerProtocolError, errorBody, statusOf } from './protocol.js';

export interface DockerAnswer {
  readonly status: number;
  readonly body: object;
  /** The error behind a non-2xx answer, for the log. */
  readonly error?: unknown;
}

function parseBody(path: string, text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new DockerProtocolError(400, `the body of ${path} is not JSON`, 'send a JSON document');
  }
}

export async function dispatchDockerCall(
  handlers: Readonly<Record<string, DockerHandler>>,
  path: string,
  text: string,
): Promise<DockerAnswer> {
  try {
    const handler = Object.hasOwn(handlers, path) ? handlers[path] : undefined;
    if (!handler) throw unknownCall(path);
    const body = parseBody(path, text);
    return { status: 200, body: await handler(body === null ? {} : body) };
  } catch (error) {
    return { status: statusOf(error), body: errorBody(error), error };
  }
}

/**
 * The forwarding side of the agent protocol: send one CNI call to the agent and wait for its answer. Loads only
 * node:net and protocol.ts, so the Node forwarder starts fast. Three outcomes:
 * - `answered`: the agent ran the call; its stdout/stderr/exit code are the call's;
 * - `absent`: nothing accepted the connection (no socket, or a stale one): the caller may run the call itself;
 * - `broken`: the agent accepted the call and went away before answering. The call may have been partly done, so
 *   it must not be redone blindly here: it is reported as "try again later", and the next call (the runtime
 *   retries, or DELs) repairs what was left (ADD replaces its own leftovers; DEL is idempotent).
 */
import { connect } from 'node:net';
import { Buffer } from 'node:buffer';
import { type AgentRequest, type AgentResponse, type FrameError, decodeResponse, encodeRequest } from './protocol.js';

export const DEFAULT_STATE_DIR = '/run/fan';
export const AGENT_SOCKET_NAME = 'agent.sock';

/** FAN_AGENT_SOCKET, else `<FAN_STATE_DIR or /run/fan>/agent.sock`: the agent of a state dir sits next to it. */
export function agentSocketPath(env: Readonly<Record<string, string | undefined>>): string {
  return env.FAN_AGENT_SOCKET || `${env.FAN_STATE_DIR || DEFAULT_STATE_DIR}/${AGENT_SOCKET_NAME}`;
}

export type ForwardOutcome =
  | { readonly kind: 'answered'; readonly response: AgentResponse }
  | { readonly kind: 'absent'; readonly reason: string }
  | { readonly kind: 'broken'; readonly reason: string };

export function forwardCall(socket: string, request: AgentRequest, timeoutMs = 300_000): Promise<ForwardOutcome> {
  return new Promise((resolve) => {
    let connected = false;
    let settled = false;
    const chunks: Buffer[] = [];
    const c = connect(socket);
    const done = (outcome: ForwardOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      c.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(
      () => done({ kind: 'broken', reason: `no answer from the fan agent at ${socket} within ${timeoutMs} ms` }),
      timeoutMs,
    );
    c.once('connect', () => {
      connected = true;
      c.write(encodeRequest(request));
    });
    c.on('data', (chunk: Buffer) => chunks.push(chunk));
    c.once('error', (error: NodeJS.ErrnoException) => {
      if (!connected) done({ kind: 'absent', reason: `${socket}: ${error.code ?? error.message}` });
      else
        done({
          kind: 'broken',
          reason: `the connection to the fan agent at ${socket} failed: ${error.code ?? error.message}`,
        });
    });
    c.once('close', () => {
      let response: AgentResponse | undefined;
      try {
        response = decodeResponse(Buffer.concat(chunks));
      } catch (error) {
        done({
          kind: 'broken',
          reason: `the fan agent at ${socket} answered garbage: ${(error as FrameError).message}`,
        });
        return;
      }
      if (response) done({ kind: 'answered', response });
      else if (!connected) done({ kind: 'absent', reason: `${socket}: closed` });
      else
        done({
          kind: 'broken',
          reason: `the fan agent at ${socket} closed the connection before answering (it may have stopped)`,
        });
    });
  });
}

/** The CNI error a forwarder prints for a broken call: code 11 (try again later), in the config's CNI version. */
export function brokenCallError(stdin: string, reason: string): string {
  let cniVersion = '1.0.0';
  try {
    const doc: unknown = JSON.parse(stdin);
    if (
      typeof doc === 'object' &&
      doc !== null &&
      'cniVersion' in doc &&
      typeof doc.cniVersion === 'string' &&
      doc.cniVersion !== ''
    )
      cniVersion = doc.cniVersion;
  } catch {
    // not JSON: the agent would have said so; keep the default version
  }
  const details = 'retry the call: ADD replaces what an interrupted ADD of the same container left, DEL is idempotent';
  return `${JSON.stringify({ cniVersion, code: 11, msg: `fan: ${reason}`, details })}\n`;
}

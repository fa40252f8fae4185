#!/usr/bin/env node
/**
 * Composition root of the `fan` CNI plugin: the only place that reads process.env and stdin. The runtime runs it
 * in the host's network namespace with CNI_* variables and the network configuration on stdin.
 *
 * When a fan agent (`fanctl agent`) listens on its socket, the call is forwarded to it (src/agent/client.ts) and
 * its answer becomes ours; this file then loads nothing but the forwarding client. When none does, the call runs
 * here (cni-in-process.ts, imported only then). FAN_CNI_IN_PROCESS=1 skips the agent (the C forwarder sets it when
 * it falls back to this entry, having found no agent already).
 */
import { agentSocketPath, brokenCallError, forwardCall } from '../agent/client.js';
import { forwardedEnv } from '../agent/protocol.js';

/** A network configuration is a few kB; a runtime never sends more than this (and reading stops there). */
const MAX_STDIN_BYTES = 4 * 1024 * 1024;

class StdinTooLarge extends Error {}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of process.stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    length += buffer.length;
    if (length > MAX_STDIN_BYTES) {
      throw new StdinTooLarge();
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<number> {
  let stdin: string;
  try {
    stdin = await readStdin();
  } catch (error) {
    // Only now the error modules: a forwarded call never loads them.
    const [{ reportCniError }, { CNI_CODES, CniError }] = await Promise.all([
      import('../cni/dispatcher.js'),
      import('../cni/protocol.js'),
    ]);
    const reported =
      error instanceof StdinTooLarge
        ? new CniError(
            CNI_CODES.decodingFailure,
            `the network configuration on stdin is larger than ${MAX_STDIN_BYTES} bytes`,
            'pass the network configuration (a small JSON document) on stdin',
          )
        : error;
    const write =
      (stream: NodeJS.WriteStream) =>
      (text: string): void =>
        void stream.write(text);
    return reportCniError({ env: process.env, stdout: write(process.stdout), stderr: write(process.stderr) }, reported);
  }
  if (!process.env.FAN_CNI_IN_PROCESS) {
    const socket = agentSocketPath(process.env);
    const outcome = await forwardCall(socket, { env: forwardedEnv(process.env), stdin });
    if (outcome.kind === 'answered') {
      process.stdout.write(outcome.response.stdout);
      process.stderr.write(outcome.response.stderr);
      return outcome.response.exitCode;
    }
    if (outcome.kind === 'broken') {
      process.stdout.write(brokenCallError(stdin, outcome.reason));
      process.stderr.write(`fan-cni: ${outcome.reason}\n`);
      return 1;
    }
  }
  const { runInProcess } = await import('./cni-in-process.js');
  return runInProcess(process.env, stdin);
}

process.exitCode = await main();

/** One forwarded CNI call, run by the same dispatcher and verbs as the in-process plugin (src/cni). */
import { runCni } from '../cni/dispatcher.js';
import type { CniPlugin } from '../cni/dispatcher.js';
import type { AgentRequest, AgentResponse } from './protocol.js';

export function cniCallHandler(
  plugin: CniPlugin,
  afterFailure: () => void = () => {},
): (request: AgentRequest) => Promise<AgentResponse> {
  return async (request) => {
    let stdout = '';
    let stderr = '';
    const exitCode = await runCni(
      { env: request.env, stdin: request.stdin, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) },
      plugin,
    );
    if (exitCode !== 0) afterFailure();
    return { exitCode, stdout, stderr };
  };
}

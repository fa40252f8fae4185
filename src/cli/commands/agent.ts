/**
 * `fanctl agent`: the per-host process that serves CNI calls forwarded by the `fan` plugin executable over a unix
 * socket (src/agent), so that a call costs a tiny forwarder's start-up instead of a Node.js process's. It runs the
 * same verbs as the in-process plugin (src/cni/plugin.ts) with two things a long-running process can keep: the fan
 * view (re-read when the fans file changes, at least every 2 s, and after a failed call) and an in-memory queue per
 * lease file in front of the file lock. With `--docker` the same process also serves the Docker plugin
 * (docker.ts). SIGTERM/SIGINT stop it: the sockets stop accepting, calls in progress finish, the files go.
 */
import { readFanView } from '../../app/fans.js';
import { cachedFanView } from '../../app/fan-view-cache.js';
import { cniCallHandler } from '../../agent/cni-service.js';
import { serveAgent } from '../../agent/server.js';
import { agentSocketPath } from '../../agent/client.js';
import { type CniDeps, fanCniPlugin } from '../../cni/plugin.js';
import { InternalError } from '../../core/errors.js';
import type { HostReader } from '../../ports/host.js';
import type { PortTable } from '../../ports/published-ports.js';
import type { HostVeths, SandboxLinks } from '../../ports/sandbox.js';
import { fanStateStamp } from '../../store/fan-state-stamp.js';
import { leaseBridges, openLeaseStore, openLeaseStoreByBridge } from '../../store/lease-file.js';
import { SerialLeaseQueues } from '../../store/serial-leases.js';
import { type RunningDockerPlugin, startDockerPlugin } from './docker.js';

export interface AgentOptions {
  /** Default: `<state dir>/agent.sock`, where the forwarder looks. */
  readonly socket?: string;
  /** Serve the Docker plugin too, on `dockerSocket`. */
  readonly docker?: boolean;
  readonly dockerSocket: string;
  readonly verbose?: boolean;
}

export interface AgentDeps {
  readonly host: HostReader;
  readonly stateDir: string;
  readonly links: SandboxLinks & HostVeths;
  /** The nftables table of published Docker ports (with --docker). */
  readonly portTable?: () => PortTable;
  readonly untilStopped: () => Promise<string>;
  readonly log: (line: string) => void;
  /** Groups from the applied policy, and port binding (as the in-process plugin has them). */
  readonly policy?: Pick<CniDeps, 'groupLeases' | 'bindPort' | 'unbindPort'>;
}

export interface AgentReport {
  readonly socket: string;
  readonly calls: number;
  readonly failed: number;
  readonly docker?: { readonly socket: string; readonly calls: number; readonly failed: number };
  readonly stoppedBy: string;
}

export async function agentCommand(opts: AgentOptions, deps: AgentDeps): Promise<AgentReport> {
  const { stateDir, log } = deps;
  const socket = opts.socket ?? agentSocketPath({ FAN_STATE_DIR: stateDir });
  const stopped = deps.untilStopped(); // listen for the signal before the sockets exist
  const fans = cachedFanView({ read: () => readFanView({ host: deps.host, stateDir }), stamp: () => fanStateStamp(stateDir) });
  const queues = new SerialLeaseQueues();
  const plugin = fanCniPlugin({
    fans: () => fans.get(),
    leases: (fan) => queues.wrap(openLeaseStore(stateDir, fan)),
    allLeaseStores: async () => (await leaseBridges(stateDir)).map((bridge) => queues.wrap(openLeaseStoreByBridge(stateDir, bridge))),
    links: deps.links,
    log: (line) => log(`cni: ${line}`),
    ...deps.policy,
  });
  let calls = 0;
  let failed = 0;
  const server = await serveAgent(socket, cniCallHandler(plugin, () => fans.invalidate()), (call) => {
    calls++;
    if (call.exitCode !== 0) failed++;
    if (opts.verbose || call.exitCode !== 0) log(`cni ${call.command} exit ${call.exitCode} in ${call.ms} ms`);
  });
  let docker: RunningDockerPlugin | undefined;
  try {
    if (opts.docker) {
      if (!deps.portTable) throw new InternalError('agent --docker needs portTable from the composition root');
      docker = await startDockerPlugin(
        { socket: opts.dockerSocket, ...(opts.verbose !== undefined ? { verbose: opts.verbose } : {}) },
        { host: deps.host, stateDir, veths: deps.links, portTable: deps.portTable(), log: (line) => log(`docker: ${line}`) },
      );
    }
  } catch (error) {
    await server.close();
    throw error;
  }
  log(`pid ${process.pid}: serving CNI on ${socket}${docker ? ` and the Docker plugin on ${docker.socket}` : ''} (state ${stateDir})`);
  const stoppedBy = await stopped;
  await Promise.all([server.close(), docker?.close()]);
  log(`${stoppedBy}: stopped after ${calls} CNI calls (${failed} failed)${docker ? ` and ${docker.stats().calls} Docker calls` : ''}`);
  return {
    socket,
    calls,
    failed,
    ...(docker ? { docker: { socket: docker.socket, ...docker.stats() } } : {}),
    stoppedBy,
  };
}

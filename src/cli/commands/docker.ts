/**
 * `fanctl docker-plugin`: serves the fan network and IPAM drivers to Docker until SIGTERM/SIGINT, then closes the
 * socket and removes it. `fanctl docker-config`: prints the bridge-driver alternative (src/docker/config.ts).
 */
import { randomUUID } from 'node:crypto';
import type { DockerDeps } from '../../app/docker.js';
import { readFanView } from '../../app/fans.js';
import { selectFan } from '../../core/attach/plan.js';
import { type DockerBridgeConfig, dockerBridgeConfig } from '../../docker/config.js';
import { fanDockerPlugin } from '../../docker/plugin.js';
import { serveDockerPlugin } from '../../docker/server.js';
import type { HostReader } from '../../ports/host.js';
import type { HostVeths } from '../../ports/sandbox.js';
import { openLeaseStore, openLeaseStoreByBridge } from '../../store/lease-file.js';

/** Where Docker looks for a plugin named `fan`. */
export const DEFAULT_DOCKER_SOCKET = '/run/docker/plugins/fan.sock';

export async function dockerConfigCommand(opts: { overlay?: string; name?: string }, deps: { host: HostReader; stateDir: string }): Promise<DockerBridgeConfig> {
  const view = await readFanView(deps);
  const fan = selectFan(view.fans, opts.overlay === undefined ? {} : { overlay: opts.overlay });
  return dockerBridgeConfig(fan, opts.name);
}

export interface DockerPluginOptions {
  readonly socket: string;
  readonly verbose?: boolean;
}

export interface DockerPluginDeps {
  readonly host: HostReader;
  readonly stateDir: string;
  readonly veths: HostVeths;
  /** Resolves with the signal's name when the process is asked to stop. */
  readonly untilStopped: () => Promise<string>;
  /** Log lines (stderr). */
  readonly log: (line: string) => void;
}

export interface DockerPluginReport {
  readonly socket: string;
  readonly calls: number;
  readonly failed: number;
  readonly stoppedBy: string;
}

const shorten = (text: string): string => (text.length > 600 ? `${text.slice(0, 600)}…` : text);

export interface StartedDockerPlugin {
  readonly socket: string;
  /** Calls served so far, and how many were answered with an error. */
  readonly stats: () => { readonly calls: number; readonly failed: number };
  close(): Promise<void>;
}

/** Serves the drivers on the socket until close() (shared by `fanctl docker-plugin` and `fanctl agent`). */
export async function startDockerPlugin(opts: DockerPluginOptions, deps: Omit<DockerPluginDeps, 'untilStopped'>): Promise<StartedDockerPlugin> {
  const app: DockerDeps = {
    fans: () => readFanView({ host: deps.host, stateDir: deps.stateDir }),
    leases: (fan) => openLeaseStore(deps.stateDir, fan),
    leasesOfBridge: (bridge) => openLeaseStoreByBridge(deps.stateDir, bridge),
    veths: deps.veths,
    newId: () => randomUUID(),
    log: deps.log,
  };
  let calls = 0;
  let failed = 0;
  const server = await serveDockerPlugin(opts.socket, fanDockerPlugin(app), (call) => {
    calls++;
    const ok = call.status >= 200 && call.status < 300;
    if (!ok) failed++;
    if (opts.verbose) deps.log(`${call.path} ${call.status} ${call.ms}ms ${shorten(call.request.trim())} -> ${shorten(call.response)}`);
    else if (!ok) deps.log(`${call.path} ${call.status}: ${shorten(call.response)}`);
  });
  return { socket: server.socket, stats: () => ({ calls, failed }), close: () => server.close() };
}

export async function dockerPluginCommand(opts: DockerPluginOptions, deps: DockerPluginDeps): Promise<DockerPluginReport> {
  const stopped = deps.untilStopped(); // listen for the signal before the socket exists
  const server = await startDockerPlugin(opts, deps);
  deps.log(`serving the fan network and IPAM drivers on ${server.socket} (state ${deps.stateDir})`);
  const stoppedBy = await stopped;
  await server.close();
  const { calls, failed } = server.stats();
  deps.log(`${stoppedBy}: stopped after ${calls} calls, removed ${server.socket}`);
  return { socket: server.socket, calls, failed, stoppedBy };
}

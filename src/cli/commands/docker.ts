/**
 * `fanctl docker-plugin`: serves the fan network and IPAM drivers to Docker until SIGTERM/SIGINT, then closes the
 * socket and removes it. `fanctl docker-config`: prints the bridge-driver alternative (src/docker/config.ts).
 */
import { randomUUID } from 'node:crypto';
import type { DockerDeps } from '../../app/docker.js';
import { appliedGroupPool, appliedUngroupedPool } from '../../app/group-pools.js';
import { NftPortBinder } from '../../app/port-bindings.js';
import { ExecRunner } from '../../kernel/exec.js';
import { readFanView } from '../../app/fans.js';
import { selectFan } from '../../core/attach/plan.js';
import { type DockerBridgeConfig, dockerBridgeConfig } from '../../docker/config.js';
import { reclaimLeases } from '../../app/docker.js';
import { ConfigError, errorMessage } from '../../core/errors.js';
import { dockerFanAddresses } from '../../docker/engine.js';
import { fanDockerPlugin } from '../../docker/plugin.js';
import { serveDockerPlugin } from '../../docker/server.js';
import type { HostReader } from '../../ports/host.js';
import type { PortTable } from '../../ports/published-ports.js';
import type { HostVeths } from '../../ports/sandbox.js';
import { FileNetworkGroups, dockerNetworksPath } from '../../store/docker-networks.js';
import { FilePublishedPorts, dockerPortsPath } from '../../store/docker-ports.js';
import { openLeaseStore, openLeaseStoreByBridge } from '../../store/lease-file.js';

import {
  DEFAULT_DOCKERD_SOCKET,
  DEFAULT_RECLAIM_GRACE_S,
  DEFAULT_RECLAIM_INTERVAL_S,
  DEFAULT_SOCKET_MODE,
} from '../../core/defaults.js';

/** Where Docker looks for a plugin named `fan`, dockerd's API socket, and the reclaimer's timing. */
export {
  DEFAULT_DOCKER_SOCKET,
  DEFAULT_DOCKERD_SOCKET,
  DEFAULT_RECLAIM_GRACE_S,
  DEFAULT_RECLAIM_INTERVAL_S,
  DEFAULT_SOCKET_MODE,
} from '../../core/defaults.js';

export async function dockerConfigCommand(
  opts: { overlay?: string; name?: string },
  deps: { host: HostReader; stateDir: string },
): Promise<DockerBridgeConfig> {
  const view = await readFanView(deps);
  const fan = selectFan(view.fans, opts.overlay === undefined ? {} : { overlay: opts.overlay });
  return dockerBridgeConfig(fan, opts.name);
}

export interface DockerPluginOptions {
  readonly socket: string;
  readonly verbose?: boolean;
  /** Octal permissions of the plugin socket (default 0660: root and its group only). */
  readonly socketMode?: string;
  /** dockerd's API socket; `false` (--no-reclaim) turns reclaiming abandoned leases off. */
  readonly dockerSocket?: string | false;
  readonly reclaimGrace?: string;
  readonly reclaimInterval?: string;
}

export function parseSocketMode(text: string): number {
  if (!/^0?[0-7]{3}$/.test(text))
    throw new ConfigError(
      `--socket-mode "${text}" is not an octal mode`,
      'write three octal digits, e.g. 0660 (owner and group read/write)',
    );
  const mode = parseInt(text, 8);
  if ((mode & 0o600) !== 0o600)
    throw new ConfigError(
      `--socket-mode ${text} keeps root from using the socket`,
      'keep the owner bits rw, e.g. 0660',
    );
  return mode;
}

function parseSeconds(option: string, text: string): number {
  if (!/^\d+$/.test(text) || Number(text) > 86_400 * 7)
    throw new ConfigError(
      `${option} "${text}" is not a whole number of seconds`,
      `write seconds, e.g. ${option} 300 (0 for ${option === '--reclaim-interval' ? 'no timer' : 'no grace'})`,
    );
  return Number(text);
}

export interface DockerPluginDeps {
  readonly host: HostReader;
  readonly stateDir: string;
  readonly veths: HostVeths;
  readonly portTable: PortTable;
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
  readonly socketMode: number;
  /** Calls served so far, and how many were answered with an error. */
  readonly stats: () => { readonly calls: number; readonly failed: number };
  /** Stops the reclaimer, closes the socket and removes it. */
  close(): Promise<void>;
}

/** Serves the drivers (and reclaims leases) until close(): shared by `fanctl docker-plugin` and `fanctl agent`. */
export async function startDockerPlugin(
  opts: DockerPluginOptions,
  deps: Omit<DockerPluginDeps, 'untilStopped'>,
): Promise<StartedDockerPlugin> {
  const socketMode = parseSocketMode(opts.socketMode ?? DEFAULT_SOCKET_MODE);
  const graceS = parseSeconds('--reclaim-grace', opts.reclaimGrace ?? String(DEFAULT_RECLAIM_GRACE_S));
  const intervalS = parseSeconds('--reclaim-interval', opts.reclaimInterval ?? String(DEFAULT_RECLAIM_INTERVAL_S));
  const dockerSocket = opts.dockerSocket === false ? undefined : (opts.dockerSocket ?? DEFAULT_DOCKERD_SOCKET);
  const app: DockerDeps = {
    fans: () => readFanView({ host: deps.host, stateDir: deps.stateDir }),
    leases: (fan, pool) => openLeaseStore(deps.stateDir, fan, pool),
    leasesOfBridge: (bridge) => openLeaseStoreByBridge(deps.stateDir, bridge),
    veths: deps.veths,
    newId: () => randomUUID(),
    log: deps.log,
    ports: new FilePublishedPorts(dockerPortsPath(deps.stateDir)),
    networkGroups: new FileNetworkGroups(dockerNetworksPath(deps.stateDir)),
    portTable: deps.portTable,
    ...(dockerSocket !== undefined ? { dockerAddresses: () => dockerFanAddresses(dockerSocket) } : {}),
    reclaimGraceMs: graceS * 1000,
    now: () => new Date(),
    // every endpoint's veth is bound to its MAC and address (always on)
    bindings: new NftPortBinder(new ExecRunner(), deps.stateDir),
    // policy groups: fan.group=NAME networks take their addresses from the group's index range
    groupPool: (fan, group) => appliedGroupPool(deps.stateDir, fan, group),
    ungroupedPool: (fan) => appliedUngroupedPool(deps.stateDir, fan),
  };
  let calls = 0;
  let failed = 0;
  const server = await serveDockerPlugin(opts.socket, socketMode, fanDockerPlugin(app), (call) => {
    calls++;
    const ok = call.status >= 200 && call.status < 300;
    if (!ok) failed++;
    if (opts.verbose)
      deps.log(`${call.path} ${call.status} ${call.ms}ms ${shorten(call.request.trim())} -> ${shorten(call.response)}`);
    else if (!ok) deps.log(`${call.path} ${call.status}: ${shorten(call.response)}`);
  });
  const reclaimer = dockerSocket === undefined ? undefined : startReclaimer(app, dockerSocket, intervalS, deps.log);
  return {
    socket: server.socket,
    socketMode,
    stats: () => ({ calls, failed }),
    close: async () => {
      reclaimer?.stop();
      await server.close();
    },
  };
}

export async function dockerPluginCommand(
  opts: DockerPluginOptions,
  deps: DockerPluginDeps,
): Promise<DockerPluginReport> {
  const stopped = deps.untilStopped(); // listen for the signal before the socket exists
  const server = await startDockerPlugin(opts, deps);
  const mode = server.socketMode.toString(8).padStart(4, '0');
  deps.log(`serving the fan network and IPAM drivers on ${server.socket} (mode ${mode}, state ${deps.stateDir})`);
  const stoppedBy = await stopped;
  await server.close();
  const { calls, failed } = server.stats();
  deps.log(`${stoppedBy}: stopped after ${calls} calls, removed ${server.socket}`);
  return { socket: server.socket, calls, failed, stoppedBy };
}

/**
 * Reclaims abandoned leases once dockerd first answers (retried every 2 s until then, so a plugin started before
 * dockerd still does it), then every `intervalS` seconds (0: only at start; a full pool reclaims too).
 */
function startReclaimer(
  app: DockerDeps,
  dockerSocket: string,
  intervalS: number,
  log: (line: string) => void,
): { stop: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let lastError = '';
  const schedule = (ms: number, first: boolean): void => {
    if (stopped) return;
    timer = setTimeout(() => void run(first), ms);
    timer.unref();
  };
  const run = async (first: boolean): Promise<void> => {
    try {
      const freed = await reclaimLeases(app);
      log(`reclaim: ${freed.length} abandoned lease(s) freed (dockerd at ${dockerSocket})`);
      lastError = '';
      if (intervalS > 0) schedule(intervalS * 1000, false);
    } catch (error) {
      const message = errorMessage(error);
      if (message !== lastError) log(`reclaim: ${message}`);
      lastError = message;
      if (first) schedule(2000, true);
      else if (intervalS > 0) schedule(intervalS * 1000, false);
    }
  };
  schedule(0, true);
  return {
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

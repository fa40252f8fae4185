/**
 * `fanctl agent` and `fanctl metrics`: the long-running services, built from options. `agentServices` is the one
 * list of what the agent runs: a new service is one more entry (and its options in src/cli/program.ts).
 */
import type { AgentService } from '../../agent/agent.js';
import type { HostDeps } from '../../app/host.js';
import { collectMetricsInput } from '../../metrics/collect.js';
import { parseListen, serveMetrics } from '../../metrics/server.js';
import type { HostReader } from '../../ports/host.js';
import type { PortTable } from '../../ports/published-ports.js';
import type { HostVeths } from '../../ports/sandbox.js';
import { startDockerPlugin } from './docker.js';

export interface AgentDeps {
  readonly hostDeps: () => HostDeps;
  readonly host: HostReader;
  readonly stateDir: string;
  readonly veths: () => HostVeths;
  readonly portTable: () => PortTable;
  readonly log: (line: string) => void;
}

export interface AgentOptions {
  /** false with --no-metrics. */
  readonly metrics: boolean;
  readonly metricsListen: string;
  /** false with --no-docker. */
  readonly docker: boolean;
  readonly dockerSocket: string;
  readonly verbose?: boolean;
}

export function metricsService(listen: string, deps: AgentDeps): AgentService {
  const address = parseListen(listen); // a bad address fails before anything starts
  return {
    name: 'metrics',
    async start() {
      const hostDeps = deps.hostDeps();
      const server = await serveMetrics(address, () => collectMetricsInput(hostDeps), { log: deps.log });
      return { description: `Prometheus metrics on ${server.url}`, stop: () => server.close() };
    },
  };
}

export function dockerService(socket: string, verbose: boolean, deps: AgentDeps): AgentService {
  return {
    name: 'docker-plugin',
    async start() {
      const server = await startDockerPlugin(
        { socket, verbose },
        { host: deps.host, stateDir: deps.stateDir, veths: deps.veths(), portTable: deps.portTable(), log: deps.log },
      );
      return { description: `Docker network and IPAM drivers on ${server.socket}`, stop: () => server.close() };
    },
  };
}

/** What `fanctl agent` runs, in start order. */
export function agentServices(opts: AgentOptions, deps: AgentDeps): AgentService[] {
  return [
    ...(opts.docker ? [dockerService(opts.dockerSocket, opts.verbose ?? false, deps)] : []),
    ...(opts.metrics ? [metricsService(opts.metricsListen, deps)] : []),
  ];
}

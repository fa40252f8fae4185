/**
 * `fanctl agent` and `fanctl metrics`: the long-running services, built from options. `agentServices` is the one
 * list of what the agent runs (src/agent/agent.ts starts and stops them): a new service is one more entry here and
 * its options in src/cli/program.ts.
 *
 * - cni: serves CNI calls forwarded by the `fan` plugin executable over a unix socket (src/agent), so that a call
 *   costs a tiny forwarder's start-up instead of a Node.js process's. It runs the same verbs as the in-process plugin
 *   (src/cni/plugin.ts) with two things a long-running process can keep: the fan view (re-read when the fans file
 *   changes, at least every 2 s, and after a failed call) and an in-memory queue per lease file in front of the lock.
 * - docker-plugin (`--docker`): Docker's network and IPAM drivers (docker.ts).
 * - metrics: the Prometheus endpoint (src/metrics), with the verdicts of a doctor run in the background every
 *   `--doctor-interval` seconds (the checks read the whole host; a scrape must not wait for them).
 * - policy-watch (`--policy-etcd URL`): keeps this host's policy equal to the document in etcd (policy-watch.ts).
 */
import type { AgentService } from '../../agent/agent.js';
import { agentSocketPath } from '../../agent/client.js';
import { cniCallHandler } from '../../agent/cni-service.js';
import { serveAgent } from '../../agent/server.js';
import { cachedFanView } from '../../app/fan-view-cache.js';
import { readFanView } from '../../app/fans.js';
import type { HostDeps } from '../../app/host.js';
import { type CniDeps, fanCniPlugin } from '../../cni/plugin.js';
import { errorMessage } from '../../core/errors.js';
import { CHECKS } from '../../doctor/checks/index.js';
import { gatherContext } from '../../doctor/context.js';
import { runChecks } from '../../doctor/run.js';
import { collectMetricsInput } from '../../metrics/collect.js';
import { runPeriodically } from '../../metrics/periodic.js';
import type { DoctorInput } from '../../metrics/samples.js';
import { parseListen, serveMetrics } from '../../metrics/server.js';
import type { HostReader } from '../../ports/host.js';
import type { PortTable } from '../../ports/published-ports.js';
import type { HostVeths, SandboxLinks } from '../../ports/sandbox.js';
import type { PortBinder } from '../../ports/bindings.js';
import { fanStateStamp } from '../../store/fan-state-stamp.js';
import { leaseBridges, openLeaseStore, openLeaseStoreByBridge } from '../../store/lease-file.js';
import { SerialLeaseQueues } from '../../store/serial-leases.js';
import { startDockerPlugin } from './docker.js';
import { DEFAULT_POLICY_KEY, policyWatchService } from './policy-watch.js';

export interface AgentDeps {
  readonly hostDeps: () => HostDeps;
  readonly host: HostReader;
  readonly stateDir: string;
  readonly links: () => SandboxLinks & HostVeths;
  readonly portTable: () => PortTable;
  readonly log: (line: string) => void;
  /** Groups from the applied policy (as the in-process plugin has them). */
  readonly policy?: () => Pick<CniDeps, 'groupLeases'>;
  /** Port binding of every attached veth (always on). */
  readonly bindings: () => PortBinder;
}

export interface AgentOptions {
  /** false with --no-cni. */
  readonly cni: boolean;
  /** Default: `<state dir>/agent.sock`, where the forwarder looks. */
  readonly socket?: string;
  /** false with --no-metrics. */
  readonly metrics: boolean;
  readonly metricsListen: string;
  /** Seconds between background doctor runs for the metrics; 0: none. */
  readonly doctorInterval: number;
  /** true with --docker. */
  readonly docker?: boolean;
  readonly dockerSocket: string;
  readonly verbose?: boolean;
  /** `--policy-etcd URL`: keep the policy equal to the document in etcd (src/app/policy-watch.ts). */
  readonly policyEtcd?: string;
  readonly policyKey?: string;
}

export function cniService(opts: Pick<AgentOptions, 'socket' | 'verbose'>, deps: AgentDeps): AgentService {
  return {
    name: 'cni',
    async start() {
      const { stateDir, log } = deps;
      const socket = opts.socket ?? agentSocketPath({ FAN_STATE_DIR: stateDir });
      const fans = cachedFanView({
        read: () => readFanView({ host: deps.host, stateDir }),
        stamp: () => fanStateStamp(stateDir),
      });
      const queues = new SerialLeaseQueues();
      const plugin = fanCniPlugin({
        fans: () => fans.get(),
        leases: (fan) => queues.wrap(openLeaseStore(stateDir, fan)),
        allLeaseStores: async () =>
          (await leaseBridges(stateDir)).map((bridge) => queues.wrap(openLeaseStoreByBridge(stateDir, bridge))),
        links: deps.links(),
        bindings: deps.bindings(),
        log: (line) => log(`cni: ${line}`),
        ...deps.policy?.(),
      });
      let calls = 0;
      let failed = 0;
      const server = await serveAgent(
        socket,
        cniCallHandler(plugin, () => fans.invalidate()),
        (call) => {
          calls++;
          if (call.exitCode !== 0) failed++;
          if (opts.verbose || call.exitCode !== 0) log(`cni ${call.command} exit ${call.exitCode} in ${call.ms} ms`);
        },
      );
      return {
        description: `pid ${process.pid}: serving CNI on ${socket} (state ${stateDir})`,
        async stop() {
          await server.close();
          log(`cni: stopped after ${calls} CNI calls (${failed} failed)`);
        },
      };
    },
  };
}

/** Runs every doctor check (no peer probes) and keeps what the metrics need. */
async function doctorVerdicts(hostDeps: HostDeps): Promise<DoctorInput> {
  const started = Date.now();
  const report = await runChecks(CHECKS, await gatherContext(hostDeps, []));
  return {
    checks: report.checks.map((c) => ({ id: c.id, verdict: c.verdict })),
    finishedAt: Date.now() / 1000,
    durationSeconds: (Date.now() - started) / 1000,
  };
}

/** The background doctor's period (--doctor-interval), and its parser: kept in core/defaults.ts for the table. */
export { DEFAULT_DOCTOR_INTERVAL_SECONDS, parseDoctorInterval } from '../../core/defaults.js';

export function metricsService(listen: string, deps: AgentDeps, doctorIntervalSeconds: number): AgentService {
  const address = parseListen(listen); // a bad address fails before anything starts
  return {
    name: 'metrics',
    async start() {
      const hostDeps = deps.hostDeps();
      const doctor =
        doctorIntervalSeconds > 0
          ? runPeriodically(
              () => doctorVerdicts(hostDeps),
              doctorIntervalSeconds * 1000,
              (error) => deps.log(`doctor run failed: ${errorMessage(error)}`),
            )
          : undefined;
      const server = await serveMetrics(address, () => collectMetricsInput(hostDeps, () => doctor?.latest()), {
        log: deps.log,
      });
      const every = doctor ? `, doctor verdicts every ${doctorIntervalSeconds} s` : '';
      return {
        description: `Prometheus metrics on ${server.url}${every}`,
        async stop() {
          await server.close();
          await doctor?.stop();
        },
      };
    },
  };
}

export function dockerService(socket: string, verbose: boolean, deps: AgentDeps): AgentService {
  return {
    name: 'docker-plugin',
    async start() {
      const server = await startDockerPlugin(
        { socket, verbose },
        { host: deps.host, stateDir: deps.stateDir, veths: deps.links(), portTable: deps.portTable(), log: deps.log },
      );
      return { description: `Docker network and IPAM drivers on ${server.socket}`, stop: () => server.close() };
    },
  };
}

/** What `fanctl agent` runs, in start order. */
export function agentServices(opts: AgentOptions, deps: AgentDeps): AgentService[] {
  return [
    ...(opts.cni ? [cniService(opts, deps)] : []),
    ...(opts.docker ? [dockerService(opts.dockerSocket, opts.verbose ?? false, deps)] : []),
    ...(opts.metrics ? [metricsService(opts.metricsListen, deps, opts.doctorInterval)] : []),
    ...(opts.policyEtcd !== undefined
      ? [
          policyWatchService(
            opts.policyEtcd,
            opts.policyKey ?? DEFAULT_POLICY_KEY,
            () => {
              const h = deps.hostDeps();
              return { runner: h.runner, host: h.host, paths: h.paths, log: h.log };
            },
            deps.log,
          ),
        ]
      : []),
  ];
}

/**
 * `fanctl agent`: the long-running part of fan in one process (fan-agent.service), as a list of services, each
 * started in order and stopped in reverse order on SIGTERM/SIGINT. A new long-running job (a policy watcher, …) is
 * one more `AgentService` in the list built by src/cli/commands/agent.ts; nothing here changes.
 */
import { errorMessage } from '../core/errors.js';

export interface RunningService {
  /** What it serves, for the log: `Prometheus metrics on http://127.0.0.1:9474/metrics`. */
  readonly description: string;
  stop(): Promise<void>;
}

export interface AgentService {
  readonly name: string;
  start(): Promise<RunningService>;
}

export interface AgentReport {
  readonly services: readonly string[];
  readonly stoppedBy: string;
}

/**
 * Starts every service, waits for `untilStopped`, stops them. When one fails to start, those already running are
 * stopped again and the error propagates (systemd restarts the unit).
 */
export async function runAgent(
  services: readonly AgentService[],
  untilStopped: () => Promise<string>,
  log: (line: string) => void,
): Promise<AgentReport> {
  const stopped = untilStopped(); // listen for the signal before anything is served
  const running: { name: string; service: RunningService }[] = [];
  const stopAll = async (): Promise<void> => {
    for (const { name, service } of running.reverse()) {
      try {
        await service.stop();
      } catch (error) {
        log(`${name}: stop failed: ${errorMessage(error)}`);
      }
    }
  };
  try {
    for (const service of services) {
      const started = await service.start();
      running.push({ name: service.name, service: started });
      log(`${service.name}: ${started.description}`);
    }
  } catch (error) {
    await stopAll();
    throw error;
  }
  const stoppedBy = await stopped;
  log(`${stoppedBy}: stopping ${running.map((r) => r.name).join(', ') || 'nothing'}`);
  const names = running.map((r) => r.name);
  await stopAll();
  return { services: names, stoppedBy };
}

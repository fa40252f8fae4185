/**
 * Well-known paths and addresses that fanctl's command table shows as option defaults. They live here, apart from
 * the modules that use them, so building the command table loads none of those modules.
 */
import { ConfigError } from './errors.js';

export const DEFAULT_DOCKER_SOCKET = '/run/docker/plugins/fan.sock';
/** dockerd's API socket, asked which addresses its networks hold. */
export const DEFAULT_DOCKERD_SOCKET = '/run/docker.sock';
export const DEFAULT_SOCKET_MODE = '0660';
export const DEFAULT_RECLAIM_GRACE_S = 300;
export const DEFAULT_RECLAIM_INTERVAL_S = 300;
export const DEFAULT_METRICS_LISTEN = '127.0.0.1:9474';

/** How often the agent's metrics run the doctor's checks (--doctor-interval), in seconds; 0: never. */
export const DEFAULT_DOCTOR_INTERVAL_SECONDS = 300;

/** Parses --doctor-interval: whole seconds, 0 turns the background doctor off. */
export function parseDoctorInterval(text: string): number {
  const seconds = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(seconds)) {
    throw new ConfigError(
      `--doctor-interval ${text} is not a whole number of seconds`,
      `write e.g. --doctor-interval ${DEFAULT_DOCTOR_INTERVAL_SECONDS}, or 0 to leave the doctor's verdicts out`,
    );
  }
  return seconds;
}

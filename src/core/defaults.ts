/**
 * Well-known paths and addresses that fanctl's command table shows as option defaults. They live here, apart from
 * the modules that use them, so building the command table loads none of those modules.
 */
export const DEFAULT_DOCKER_SOCKET = '/run/docker/plugins/fan.sock';
/** dockerd's API socket, asked which addresses its networks hold. */
export const DEFAULT_DOCKERD_SOCKET = '/run/docker.sock';
export const DEFAULT_SOCKET_MODE = '0660';
export const DEFAULT_RECLAIM_GRACE_S = 300;
export const DEFAULT_RECLAIM_INTERVAL_S = 300;
export const DEFAULT_METRICS_LISTEN = '127.0.0.1:9474';

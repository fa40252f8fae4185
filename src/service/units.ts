/**
 * The text of fan's boot integration, in one place: the systemd units `fan.service` (brings up the fans of
 * /etc/network/fan once the network is online, takes them down on stop) and `fan-agent.service` (the long-running
 * part: `fanctl agent`), the default /etc/network/fan, and the shell wrappers that put fanctl and the CNI plugin on
 * PATH. Both the Debian package build (scripts/package.mjs) and `fanctl install-service` render them from here, so
 * the two installs cannot drift apart. Pure: returns text.
 */
import { DEFAULT_FAN_CONFIG } from '../core/config/fan-file.js';

/** Where the units and their command live on one kind of install. */
export interface ServiceLayout {
  /** The command that runs fanctl, as argv (`/usr/bin/fanctl`, or node + dist/src/bin/fanctl.js in a checkout). */
  readonly fanctl: readonly string[];
  /** The config file `fan.service` reads (`-c`). */
  readonly config: string;
  /** Optional environment file of the agent (FAN_AGENT_OPTS: extra `fanctl agent` options). */
  readonly agentEnvironment: string;
  /** Where unit files go: /lib/systemd/system for a package, /etc/systemd/system for a local install. */
  readonly unitDir: string;
  /** Who installed it, for the units' header comment. */
  readonly installedBy: string;
}

export const FAN_SERVICE = 'fan.service';
export const FAN_AGENT_SERVICE = 'fan-agent.service';
export const DEFAULT_AGENT_ENVIRONMENT = '/etc/default/fan';
export const PACKAGE_UNIT_DIR = '/lib/systemd/system';
export const LOCAL_UNIT_DIR = '/etc/systemd/system';

/** The layout of the Debian package: everything under /usr/lib/fan, the wrapper on PATH. */
export const PACKAGE_LAYOUT: ServiceLayout = {
  fanctl: ['/usr/bin/fanctl'],
  config: DEFAULT_FAN_CONFIG,
  agentEnvironment: DEFAULT_AGENT_ENVIRONMENT,
  unitDir: PACKAGE_UNIT_DIR,
  installedBy: 'the fan Debian package',
};

/** systemd's command-line quoting: words with spaces, quotes, backslashes or `$`/`%` specifiers are quoted. */
export function systemdWord(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) && !word.includes('%')) return word;
  return `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '$$$$').replace(/%/g, '%%')}"`;
}

function command(layout: ServiceLayout, args: readonly string[]): string {
  return [...layout.fanctl, ...args].map(systemdWord).join(' ');
}

function header(layout: ServiceLayout): string[] {
  return [`# Installed by ${layout.installedBy}. Local changes: systemctl edit <unit> (a drop-in survives upgrades).`];
}

export function renderFanService(layout: ServiceLayout): string {
  return [
    ...header(layout),
    '[Unit]',
    `Description=Fan networking: bring up the fans of ${layout.config}`,
    'Wants=network-online.target',
    'After=network-online.target',
    // Runtimes attach containers to the fan bridges: they start after them.
    'Before=docker.service podman.service containerd.service kubelet.service',
    `ConditionPathExists=${layout.config}`,
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    `ExecStart=${command(layout, ['up', '-a', '-c', layout.config])}`,
    `ExecStop=${command(layout, ['down', '-a', '-c', layout.config])}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

export function renderAgentService(layout: ServiceLayout): string {
  return [
    ...header(layout),
    '[Unit]',
    'Description=Fan networking agent: Docker network/IPAM plugin and Prometheus metrics',
    `Wants=${FAN_SERVICE}`,
    `After=${FAN_SERVICE}`,
    // Docker looks for /run/docker/plugins/fan.sock when it starts.
    'Before=docker.service',
    '',
    '[Service]',
    'Type=simple',
    `EnvironmentFile=-${layout.agentEnvironment}`,
    // $FAN_AGENT_OPTS is split into words by systemd and vanishes when unset.
    `ExecStart=${command(layout, ['agent'])} $FAN_AGENT_OPTS`,
    'Restart=on-failure',
    'RestartSec=2s',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** The default /etc/network/fan: every line a comment, so a fresh install brings up nothing. */
export function renderDefaultFanConfig(): string {
  return [
    '# /etc/network/fan: the fans fan.service brings up at boot (fanctl up -a) and takes down on stop.',
    '# One fan per line, in the arguments of `fanctl up`; `#` starts a comment; the flag `off` keeps a line disabled.',
    '# Check the file with: fanctl config check',
    '#',
    '# Examples (remove the leading "#" to use one):',
    '# -o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp',
    '# 249.0.0.0/8 eth0/16 dhcp host-reserve 2',
    '# -o 251.0.0.0/8 -u default/16 --type host-gw',
    '# 252.0.0.0/8 10.0.0.0/16 off',
    '',
  ].join('\n');
}

/** The default /etc/default/fan: commented, documents the agent's options. */
export function renderAgentEnvironment(): string {
  return [
    '# Options of fan-agent.service (fanctl agent); see fanctl agent --help.',
    '# It serves CNI calls for the fan plugin and Prometheus metrics; --docker adds the Docker plugin.',
    '# FAN_AGENT_OPTS="--docker --metrics-listen 127.0.0.1:9474 --docker-socket /run/docker/plugins/fan.sock"',
    '# FAN_AGENT_OPTS="--no-metrics"',
    '',
  ].join('\n');
}

function shellQuote(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** /usr/bin/fanctl: runs the installed entry point with the system's node. */
export function renderFanctlWrapper(options: { readonly node: string; readonly entry: string }): string {
  return [
    '#!/bin/sh',
    '# fanctl: Fan networking on stock Linux kernels (installed by the fan package).',
    `exec ${shellQuote(options.node)} ${shellQuote(options.entry)} "$@"`,
    '',
  ].join('\n');
}

export interface ServiceFile {
  /** Absolute path on the target system. */
  readonly path: string;
  readonly content: string;
  readonly mode: number;
  /** Written only when absent (the admin's file wins). */
  readonly keepExisting: boolean;
}

/** Every file a service install writes, for one layout. */
export function serviceFiles(layout: ServiceLayout): ServiceFile[] {
  return [
    { path: `${layout.unitDir}/${FAN_SERVICE}`, content: renderFanService(layout), mode: 0o644, keepExisting: false },
    {
      path: `${layout.unitDir}/${FAN_AGENT_SERVICE}`,
      content: renderAgentService(layout),
      mode: 0o644,
      keepExisting: false,
    },
    { path: layout.config, content: renderDefaultFanConfig(), mode: 0o644, keepExisting: true },
    { path: layout.agentEnvironment, content: renderAgentEnvironment(), mode: 0o644, keepExisting: true },
  ];
}

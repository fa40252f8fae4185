/**
 * A small CNI runtime for the lab, doing what libcni does for a conflist (SPEC "Network configuration lists"):
 * find each plugin by `type` in CNI_PATH, inject `name`, `cniVersion`, `runtimeConfig` (for declared
 * capabilities) and `prevResult`, run ADD/CHECK in order and DEL in reverse, and DEL everything again when an ADD
 * fails. Plugins run inside a lab host's namespace (`ip netns exec`) with that host's FAN_STATE_DIR, exactly as a
 * runtime on that host would run them. Debian does not package cnitool; this replaces it for tests.
 */
import { root } from '../../src/lab/shell.js';
import { access, constants } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { FanError } from '../../src/core/errors.js';
import type { LabHost } from '../../src/lab/topology.js';

/** The plugin's Node entry point in this build. */
export const FAN_CNI_ENTRY = fileURLToPath(new URL('../../src/bin/fan-cni.js', import.meta.url));
/** Debian's containernetworking-plugins. */
export const REFERENCE_PLUGIN_DIR = '/usr/lib/cni';

export interface CniCall {
  readonly command: 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';
  readonly containerId?: string;
  readonly netns?: string;
  readonly ifname?: string;
  readonly args?: string;
  readonly path?: string;
}

export interface CniOutcome {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON, when it is. */
  readonly json?: Record<string, unknown>;
}

/** The environment a runtime gives a plugin, as `env` arguments. */
function cniEnv(host: LabHost, call: CniCall): string[] {
  return [
    `FAN_STATE_DIR=${host.stateDir}`,
    `CNI_COMMAND=${call.command}`,
    ...(call.containerId !== undefined ? [`CNI_CONTAINERID=${call.containerId}`] : []),
    ...(call.netns !== undefined ? [`CNI_NETNS=${call.netns}`] : []),
    ...(call.ifname !== undefined ? [`CNI_IFNAME=${call.ifname}`] : []),
    ...(call.args !== undefined ? [`CNI_ARGS=${call.args}`] : []),
    `CNI_PATH=${call.path ?? REFERENCE_PLUGIN_DIR}`,
  ];
}

/** Runs one plugin executable (argv) in `host` with the CNI environment and `config` on stdin. */
export async function execPlugin(
  host: LabHost,
  plugin: readonly string[],
  call: CniCall,
  config: unknown,
  timeoutMs = 60_000,
): Promise<CniOutcome> {
  const out = await root.run(['ip', 'netns', 'exec', host.ns, 'env', ...cniEnv(host, call), ...plugin], {
    input: JSON.stringify(config),
    allowFailure: true,
    timeoutMs,
  });
  let json: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(out.stdout);
    if (typeof parsed === 'object' && parsed !== null) json = parsed as Record<string, unknown>;
  } catch {
    // empty (DEL, CHECK, …) or not JSON
  }
  return { exitCode: out.exitCode, stdout: out.stdout, stderr: out.stderr, ...(json ? { json } : {}) };
}

/** Runs this build's fan-cni directly with node (no wrapper). */
export function execFanCni(host: LabHost, call: CniCall, config: unknown, timeoutMs?: number): Promise<CniOutcome> {
  return execPlugin(host, [process.execPath, FAN_CNI_ENTRY], call, config, timeoutMs);
}

export interface Conflist {
  readonly cniVersion: string;
  readonly name: string;
  readonly plugins: readonly Record<string, unknown>[];
}

export interface Attachment {
  readonly containerId: string;
  readonly netns: string;
  readonly ifname: string;
  /** Runtime values for capabilities (portMappings, bandwidth, ips, …). */
  readonly runtimeConfig?: Readonly<Record<string, unknown>>;
  readonly args?: string;
}

/** A failed plugin run inside a conflist operation. */
export class CniCallError extends FanError {
  override name = 'CniCallError';
  constructor(
    readonly plugin: string,
    readonly outcome: CniOutcome,
  ) {
    super(`CNI plugin ${plugin} failed (exit ${outcome.exitCode}): ${outcome.stdout.trim()} ${outcome.stderr.trim()}`);
  }
}

/** libcni for one conflist on one lab host. */
export class ConflistRuntime {
  constructor(
    readonly host: LabHost,
    readonly conflist: Conflist,
    /** CNI_PATH directories, searched in order. */
    readonly pluginDirs: readonly string[],
  ) {}

  private async find(type: string): Promise<string> {
    for (const dir of this.pluginDirs) {
      const path = `${dir}/${type}`;
      if (
        await access(path, constants.X_OK).then(
          () => true,
          () => false,
        )
      )
        return path;
    }
    throw new FanError(`CNI plugin "${type}" not found in ${this.pluginDirs.join(':')}`);
  }

  /** The configuration one plugin of the list receives. */
  pluginConfig(
    plugin: Readonly<Record<string, unknown>>,
    a: Attachment | undefined,
    prevResult: unknown,
  ): Record<string, unknown> {
    const conf: Record<string, unknown> = { ...plugin, name: this.conflist.name, cniVersion: this.conflist.cniVersion };
    const caps = plugin.capabilities;
    if (a?.runtimeConfig && typeof caps === 'object' && caps !== null) {
      const runtimeConfig: Record<string, unknown> = {};
      for (const [key, enabled] of Object.entries(caps)) {
        if (enabled === true && a.runtimeConfig[key] !== undefined) runtimeConfig[key] = a.runtimeConfig[key];
      }
      if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
    }
    if (prevResult !== undefined) conf.prevResult = prevResult;
    return conf;
  }

  private call(command: CniCall['command'], a: Attachment): CniCall {
    return {
      command,
      containerId: a.containerId,
      netns: a.netns,
      ifname: a.ifname,
      args: a.args ?? 'IgnoreUnknown=1',
      path: this.pluginDirs.join(':'),
    };
  }

  private async run(plugin: Readonly<Record<string, unknown>>, call: CniCall, config: unknown): Promise<CniOutcome> {
    const type = String(plugin.type);
    const out = await execPlugin(this.host, [await this.find(type)], call, config);
    if (out.exitCode !== 0) throw new CniCallError(type, out);
    return out;
  }

  /** ADD through the list; returns the final result. On failure, DELs the whole list and rethrows. */
  async add(a: Attachment): Promise<Record<string, unknown>> {
    let prev: Record<string, unknown> | undefined;
    try {
      for (const plugin of this.conflist.plugins) {
        const out = await this.run(plugin, this.call('ADD', a), this.pluginConfig(plugin, a, prev));
        if (!out.json) throw new CniCallError(String(plugin.type), out);
        prev = out.json;
      }
    } catch (error) {
      await this.del(a, prev).catch(() => undefined);
      throw error;
    }
    if (!prev) throw new FanError(`conflist ${this.conflist.name} has no plugins`);
    return prev;
  }

  /** CHECK in order; `skip` names plugin types not to run (for known upstream bugs, which the caller states). */
  async check(a: Attachment, result: unknown, skip: readonly string[] = []): Promise<void> {
    for (const plugin of this.conflist.plugins) {
      if (skip.includes(String(plugin.type))) continue;
      await this.run(plugin, this.call('CHECK', a), this.pluginConfig(plugin, a, result));
    }
  }

  /** DEL in reverse order, each plugin given the cached ADD result (when there is one). */
  async del(a: Attachment, result?: unknown): Promise<void> {
    for (const plugin of [...this.conflist.plugins].reverse())
      await this.run(plugin, this.call('DEL', a), this.pluginConfig(plugin, a, result));
  }
}

/**
 * `fanctl cni install`: puts the `fan` CNI plugin into the runtime's plugin directory and writes a conflist
 * (`fan` + `portmap`) for each fan that is up, or for the one named with --overlay. Files are written atomically
 * (temp + rename) so a runtime scanning the directories never reads half a file.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { equalCidr, formatCidr } from '../../core/address/ipv4.js';
import { parseOverlay } from '../../core/config/fan-spec.js';
import { ConfigError, StateError } from '../../core/errors.js';
import { readFanView } from '../../app/fans.js';
import {
  DEFAULT_CONFLIST_VERSION,
  configureForwarder,
  conflistFileName,
  networkNameOf,
  renderConflist,
  renderWrapper,
} from '../../cni/install.js';
import { isSupportedVersion, SUPPORTED_VERSIONS } from '../../cni/protocol.js';
import type { HostReader } from '../../ports/host.js';

export interface CniInstallOptions {
  readonly dir: string;
  readonly confDir: string;
  readonly overlay?: string;
  readonly cniVersion?: string;
}

export interface CniInstallDeps {
  readonly host: HostReader;
  readonly stateDir: string;
  /** True when the state dir was chosen with FAN_STATE_DIR (then the wrapper keeps it). */
  readonly stateDirFromEnv: boolean;
  readonly packageRoot: string;
  /** The node binary the wrapper runs; default: the one running fanctl. */
  readonly node?: string;
}

export interface CniInstallReport {
  readonly plugin: string;
  readonly conflists: readonly {
    readonly path: string;
    readonly network: string;
    readonly overlay: string;
    readonly bridge: string;
  }[];
}

async function writeAtomic(path: string, text: string | Uint8Array, mode: number): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, text, { mode });
  await chmod(temp, mode);
  await rename(temp, path);
}

export async function cniInstallCommand(opts: CniInstallOptions, deps: CniInstallDeps): Promise<CniInstallReport> {
  const version = opts.cniVersion ?? DEFAULT_CONFLIST_VERSION;
  if (!isSupportedVersion(version))
    throw new ConfigError(`--cni-version ${version} is not supported`, `use one of ${SUPPORTED_VERSIONS.join(', ')}`);
  const { fans } = await readFanView({ host: deps.host, stateDir: deps.stateDir });
  if (fans.length === 0)
    throw new StateError(
      'no fan is up on this host: there is nothing to write a CNI network for',
      'bring one up first, e.g. fanctl up -o 250.0.0.0/8 -u <underlay>',
    );
  let chosen = fans;
  if (opts.overlay !== undefined) {
    const overlay = parseOverlay(opts.overlay);
    chosen = fans.filter((f) => equalCidr(f.map.overlay, overlay));
    if (chosen.length === 0) {
      throw new StateError(
        `no fan with overlay ${formatCidr(overlay)} is up on this host`,
        `fans up: ${fans.map((f) => formatCidr(f.map.overlay)).join(', ')}`,
      );
    }
  }
  await mkdir(opts.dir, { recursive: true });
  await mkdir(opts.confDir, { recursive: true });
  const plugin = `${opts.dir}/fan`;
  const wrapper = {
    node: deps.node ?? process.execPath,
    entry: `${deps.packageRoot}dist/src/bin/fan-cni.js`,
    ...(deps.stateDirFromEnv ? { stateDir: deps.stateDir } : {}),
  };
  // The C forwarder when it was built (clang): one small exec per call, no shell, no Node.js while the agent runs.
  const forwarder = await readFile(`${deps.packageRoot}build/bin/fan-cni-forward`).catch(() => undefined);
  await writeAtomic(plugin, forwarder ? configureForwarder(forwarder, wrapper) : renderWrapper(wrapper), 0o755);
  const conflists = [];
  for (const fan of chosen) {
    const path = `${opts.confDir}/${conflistFileName(fan)}`;
    await writeAtomic(path, `${JSON.stringify(renderConflist(fan, version), null, 2)}\n`, 0o644);
    conflists.push({ path, network: networkNameOf(fan), overlay: formatCidr(fan.map.overlay), bridge: fan.bridge });
  }
  return { plugin, conflists };
}

export function renderCniInstall(report: CniInstallReport): string {
  return [
    `installed ${report.plugin}`,
    ...report.conflists.map((c) => `wrote ${c.path} (network ${c.network}: ${c.overlay} on ${c.bridge})`),
    '',
  ].join('\n');
}

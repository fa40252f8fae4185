/**
 * What `fanctl cni install` writes, as text: the `fan` executable runtimes find in their CNI plugin directory (a
 * small sh wrapper around the C forwarder, which hands the call to the agent and falls back to this package's Node
 * entry point when no agent runs; or around the Node entry alone when the forwarder was not built) and one
 * conflist per fan: `fan`, then `portmap`.
 * Pure; src/cli/commands/cni.ts writes the files.
 */
import { formatCidr } from '../core/address/ipv4.js';
import type { Fan } from '../core/config/resolve.js';
import type { CniVersion } from './protocol.js';

/** Debian 12's reference plugins (1.1.1) and podman 4's libcni speak up to 1.0.0; fan-cni itself speaks 1.1.0. */
export const DEFAULT_CONFLIST_VERSION: CniVersion = '1.0.0';

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export interface WrapperOptions {
  /** Absolute path of the node binary. */
  readonly node: string;
  /** Absolute path of dist/src/bin/fan-cni.js. */
  readonly entry: string;
  /** Absolute path of build/bin/fan-cni-forward, when it was built (needs clang). */
  readonly forwarder?: string;
  /** Baked in as the default FAN_STATE_DIR (for hosts whose fanctl uses another state dir, e.g. lab hosts). */
  readonly stateDir?: string;
}

export function renderWrapper(options: WrapperOptions): string {
  const lines = [
    '#!/bin/sh',
    '# fan CNI plugin, installed by `fanctl cni install`: speaks CNI 0.4.0/1.0.0/1.1.0 on stdin/stdout.',
    '# Addresses come from this host\'s fan slice; leases live under $FAN_STATE_DIR/ipam.',
  ];
  if (options.stateDir !== undefined) {
    lines.push(`: "\${FAN_STATE_DIR:=${options.stateDir.replace(/["\\$`]/g, '\\$&')}}"`, 'export FAN_STATE_DIR');
  }
  const node = `${shellQuote(options.node)} ${shellQuote(options.entry)}`;
  if (options.forwarder !== undefined) {
    lines.push('# The agent (fanctl agent) does the work when it runs; otherwise the Node plugin does it in-process.');
    lines.push(`exec ${shellQuote(options.forwarder)} ${node} "$@"`, '');
  } else {
    lines.push(`exec ${node} "$@"`, '');
  }
  return lines.join('\n');
}

/** Network name of a fan's conflist: its bridge name (unique per host, e.g. `fan-250`). */
export function networkNameOf(fan: Fan): string {
  return fan.bridge;
}

export function renderConflist(fan: Fan, cniVersion: CniVersion = DEFAULT_CONFLIST_VERSION): Record<string, unknown> {
  return {
    cniVersion,
    name: networkNameOf(fan),
    plugins: [
      { type: 'fan', overlay: formatCidr(fan.map.overlay) },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
}

/** File name of a fan's conflist in the configuration directory (runtimes read them in lexical order). */
export function conflistFileName(fan: Fan): string {
  return `50-${networkNameOf(fan)}.conflist`;
}

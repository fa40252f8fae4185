/**
 * What `fanctl cni install` writes: the `fan` executable runtimes find in their CNI plugin directory and one
 * conflist per fan (`fan`, then `portmap`). The executable is the C forwarder (build/bin/fan-cni-forward) with its
 * settings written into it (`configureForwarder`): it hands each call to the agent and falls back to this
 * package's Node entry point when no agent runs. Without a built forwarder it is a small sh wrapper around the
 * Node entry (which forwards to the agent itself, at Node's start-up cost).
 * Pure; src/cli/commands/cni.ts writes the files.
 */
import { formatCidr } from '../core/address/ipv4.js';
import type { Fan } from '../core/config/resolve.js';
import { Buffer } from 'node:buffer';
import { ConfigError } from '../core/errors.js';
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
  /** Baked in as the default FAN_STATE_DIR (for hosts whose fanctl uses another state dir, e.g. lab hosts). */
  readonly stateDir?: string;
  /**
   * A C forwarder that may be installed next to the package (Debian: the fan-cni-forward package): when it is
   * executable the wrapper hands the call to it, with the Node entry as its fallback.
   */
  readonly forwarder?: string;
}

export function renderWrapper(options: WrapperOptions): string {
  const lines = [
    '#!/bin/sh',
    '# fan CNI plugin, installed by `fanctl cni install`: speaks CNI 0.4.0/1.0.0/1.1.0 on stdin/stdout.',
    "# Addresses come from this host's fan slice; leases live under $FAN_STATE_DIR/ipam.",
  ];
  if (options.stateDir !== undefined) {
    lines.push(`: "\${FAN_STATE_DIR:=${options.stateDir.replace(/["\\$`]/g, '\\$&')}}"`, 'export FAN_STATE_DIR');
  }
  const node = `${shellQuote(options.node)} ${shellQuote(options.entry)}`;
  if (options.forwarder !== undefined) {
    const forwarder = shellQuote(options.forwarder);
    lines.push(`if [ -x ${forwarder} ]; then exec ${forwarder} ${node}; fi`);
  }
  lines.push(`exec ${node} "$@"`, '');
  return lines.join('\n');
}

/** The line of the forwarder's settings area (shim/fan-cni-forward.c) after which the settings go. */
export const FORWARDER_MARKER = '@@FAN-CNI-FORWARD-CONFIG@@\n';
const FORWARDER_AREA = 4096;

/**
 * A copy of the forwarder binary with its settings in place: `FAN_STATE_DIR:=DIR` (the default state dir, as the
 * sh wrapper's `:=`) and one `FALLBACK=WORD` line per word of the in-process plugin's command.
 */
export function configureForwarder(binary: Buffer, options: WrapperOptions): Buffer {
  const at = binary.indexOf(FORWARDER_MARKER);
  if (at < 0 || binary.indexOf(FORWARDER_MARKER, at + 1) >= 0)
    throw new ConfigError(
      'the forwarder binary has no (or more than one) settings area',
      'rebuild it with npm run build',
    );
  const words = [options.node, options.entry];
  if ([...words, options.stateDir ?? ''].some((w) => /[\n\0]/.test(w)))
    throw new ConfigError('a path of the CNI plugin contains a newline or NUL', 'install fan under a plain path');
  const text = [
    ...(options.stateDir !== undefined ? [`FAN_STATE_DIR:=${options.stateDir}`] : []),
    ...words.map((w) => `FALLBACK=${w}`),
  ]
    .map((l) => `${l}\n`)
    .join('');
  const settings = Buffer.from(`${FORWARDER_MARKER}${text}`);
  if (settings.length >= FORWARDER_AREA)
    throw new ConfigError("the CNI plugin's paths are too long for the forwarder", 'install fan under a shorter path');
  const out = Buffer.from(binary);
  out.fill(0, at, at + FORWARDER_AREA);
  settings.copy(out, at);
  return out;
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

/**
 * The CNI wire protocol (CNI spec 1.1, digested in docs/protocols.md): versions, error codes, the result document
 * per version, and the mapping from fan's errors to CNI error codes. Protocol codes exist only here
 * (docs/architecture.md, errors).
 */
import { BusyError, ConfigError, FanError, errorMessage } from '../core/errors.js';
import { FanNotUpError } from '../core/attach/plan.js';
import { IpamError } from '../core/ipam/allocator.js';
import { AttachmentMismatchError, SandboxGoneError } from '../app/attach.js';

/** Spec versions whose configs and results this plugin speaks (0.4.0 for older runtimes, e.g. podman 4's libcni). */
export const SUPPORTED_VERSIONS = ['0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
export const LATEST_VERSION: CniVersion = '1.1.0';

export function isSupportedVersion(version: string): version is CniVersion {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(version);
}

/** Well-known error codes (SPEC "Error codes") and fan's own (100+). */
export const CNI_CODES = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnvironment: 4,
  ioFailure: 5,
  decodingFailure: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  /** STATUS: the plugin cannot attach containers now (no fan up). */
  notAvailable: 50,
  /** STATUS: not available, and containers already attached are cut off (the fan's bridge is gone). */
  notAvailableDamaged: 51,
  /** fan: CHECK found the attachment different from its ADD result. */
  attachmentMismatch: 100,
  unknown: 999,
} as const;

/** An error that already carries its CNI code. */
export class CniError extends FanError {
  override name = 'CniError';
  constructor(
    readonly code: number,
    message: string,
    hint?: string,
  ) {
    super(message, hint);
  }
}

export interface CniErrorDocument {
  readonly cniVersion: string;
  readonly code: number;
  readonly msg: string;
  readonly details?: string;
}

/** Maps any error to the CNI error document; unknown errors become 999 with their message (never a stack trace). */
export function toCniError(error: unknown, cniVersion: string): CniErrorDocument {
  const doc = (code: number, msg: string, details?: string): CniErrorDocument => ({
    cniVersion,
    code,
    msg,
    ...(details ? { details } : {}),
  });
  if (error instanceof CniError) return doc(error.code, error.message, error.hint);
  if (error instanceof SandboxGoneError) return doc(CNI_CODES.unknownContainer, error.message, error.hint);
  if (error instanceof AttachmentMismatchError) return doc(CNI_CODES.attachmentMismatch, error.message, error.hint);
  if (error instanceof IpamError) {
    // An empty pool will not fill up by waiting: that is a configuration problem, not "try again later".
    const code = error.kind === 'exhausted' && error.poolSize > 0 ? CNI_CODES.tryAgainLater : CNI_CODES.invalidConfig;
    return doc(code, error.message, error.hint);
  }
  if (error instanceof FanNotUpError) return doc(CNI_CODES.tryAgainLater, error.message, error.hint);
  if (error instanceof BusyError) return doc(CNI_CODES.tryAgainLater, error.message, error.hint);
  if (error instanceof ConfigError) return doc(CNI_CODES.invalidConfig, error.message, error.hint);
  if (error instanceof FanError) return doc(CNI_CODES.unknown, error.message, error.hint);
  // No stack trace in the document: runtimes show `details` to users. fan-cni prints it on stderr with FAN_DEBUG=1.
  return doc(
    CNI_CODES.unknown,
    `unexpected error: ${errorMessage(error)}`,
    'this is likely a bug in the fan plugin: report it with the message above',
  );
}

export interface CniInterface {
  readonly name: string;
  readonly mac?: string;
  readonly mtu?: number;
  readonly sandbox?: string;
}

export interface CniIpConfig {
  readonly address: string;
  readonly gateway?: string;
  readonly interface?: number;
}

export interface CniRoute {
  readonly dst: string;
  readonly gw?: string;
}

export interface CniDns {
  readonly nameservers?: readonly string[];
  readonly domain?: string;
  readonly search?: readonly string[];
  readonly options?: readonly string[];
}

/** A result in the current (1.1.0) shape; `encodeResult` writes it in the requested version. */
export interface CniResult {
  readonly interfaces: readonly CniInterface[];
  readonly ips: readonly CniIpConfig[];
  readonly routes: readonly CniRoute[];
  readonly dns: CniDns;
}

/** The result document for `version`: 0.4.0 adds `version: "4"` to IPs; before 1.1.0 interfaces have no `mtu`. */
export function encodeResult(version: CniVersion, result: CniResult): Record<string, unknown> {
  const interfaces = result.interfaces.map((i) => {
    if (version === '1.1.0' || i.mtu === undefined) return i;
    const { mtu: _mtu, ...rest } = i;
    return rest;
  });
  const ips = result.ips.map((ip) => (version === '0.4.0' ? { version: '4', ...ip } : ip));
  return { cniVersion: version, interfaces, ips, routes: result.routes, dns: result.dns };
}

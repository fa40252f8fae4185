/**
 * The CNI entry point, given its environment: reads CNI_COMMAND and the configuration, calls the verb
 * from the plugin's table, writes the result (ADD), nothing (DEL, CHECK, STATUS, GC) or the version document, and
 * turns every error into a CNI error document on stdout with a non-zero exit code. Only src/bin touches `process`.
 */
import { type CniEnv, type NetConf, parseCniEnv, parseNetConf, peekVersion } from './netconf.js';
import { type CniResult, LATEST_VERSION, SUPPORTED_VERSIONS, encodeResult, toCniError } from './protocol.js';

export interface CniIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdin: string;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

export interface AttachmentContext {
  readonly conf: NetConf;
  readonly containerId: string;
  readonly ifname: string;
  /** Absent only for DEL (the runtime may have lost the namespace). */
  readonly netns?: string;
}

export type SandboxContext = AttachmentContext & { readonly netns: string };

/** The verb table. VERSION is answered by the dispatcher itself. */
export interface CniPlugin {
  add(ctx: SandboxContext): Promise<CniResult>;
  del(ctx: AttachmentContext): Promise<void>;
  check(ctx: SandboxContext): Promise<void>;
  status(conf: NetConf): Promise<void>;
  gc(conf: NetConf): Promise<void>;
}

function attachment(env: CniEnv, conf: NetConf): AttachmentContext {
  // parseCniEnv guarantees these for ADD, DEL and CHECK.
  return {
    conf,
    containerId: env.containerId ?? '',
    ifname: env.ifname ?? '',
    ...(env.netns !== undefined ? { netns: env.netns } : {}),
  };
}

function sandbox(env: CniEnv, conf: NetConf): SandboxContext {
  return { ...attachment(env, conf), netns: env.netns ?? '' };
}

/** Runs one CNI invocation; returns the process exit code. */
export async function runCni(io: CniIo, plugin: CniPlugin): Promise<number> {
  const version = peekVersion(io.stdin);
  try {
    const env = parseCniEnv(io.env);
    if (env.command === 'VERSION') {
      io.stdout(`${JSON.stringify({ cniVersion: LATEST_VERSION, supportedVersions: SUPPORTED_VERSIONS })}\n`);
      return 0;
    }
    const conf = parseNetConf(io.stdin, env.args);
    switch (env.command) {
      case 'ADD': {
        const result = await plugin.add(sandbox(env, conf));
        io.stdout(`${JSON.stringify(encodeResult(conf.cniVersion, result))}\n`);
        break;
      }
      case 'DEL':
        await plugin.del(attachment(env, conf));
        break;
      case 'CHECK':
        await plugin.check(sandbox(env, conf));
        break;
      case 'STATUS':
        await plugin.status(conf);
        break;
      case 'GC':
        await plugin.gc(conf);
        break;
    }
    return 0;
  } catch (error) {
    return reportCniError(io, error, version);
  }
}

/** Writes `error` as the CNI error document (stdout) and one readable line (stderr); returns the exit code. */
export function reportCniError(
  io: Pick<CniIo, 'env' | 'stdout' | 'stderr'>,
  error: unknown,
  version: string = LATEST_VERSION,
): number {
  const doc = toCniError(error, version);
  io.stdout(`${JSON.stringify(doc)}\n`);
  io.stderr(
    `fan-cni: ${io.env.CNI_COMMAND ?? '?'} failed (code ${doc.code}): ` +
      `${doc.msg}${doc.details ? `\n  fix: ${doc.details}` : ''}\n`,
  );
  if (io.env.FAN_DEBUG && error instanceof Error && error.stack) io.stderr(`${error.stack}\n`);
  return 1;
}

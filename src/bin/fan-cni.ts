#!/usr/bin/env node
/**
 * Composition root of the `fan` CNI plugin: the only place that reads process.env and stdin. The runtime runs it
 * in the host's network namespace with CNI_* variables and the network configuration on stdin; the state dir
 * (leases, fans) comes from FAN_STATE_DIR (default /run/fan), as for fanctl.
 */
import { fanPaths } from '../app/paths.js';
import { readFanView } from '../app/fans.js';
import { bindPort, groupLeaseStore, unbindPort } from '../app/policy.js';
import { reportCniError, runCni } from '../cni/dispatcher.js';
import { fanCniPlugin } from '../cni/plugin.js';
import { CNI_CODES, CniError } from '../cni/protocol.js';
import { ExecRunner } from '../kernel/exec.js';
import { IpHostReader } from '../kernel/host-reader.js';
import { IpSandboxLinks } from '../kernel/sandbox-links.js';
import { leaseBridges, openLeaseStore, openLeaseStoreByBridge } from '../store/lease-file.js';

/** A network configuration is a few kB; a runtime never sends more than this (and reading stops there). */
const MAX_STDIN_BYTES = 4 * 1024 * 1024;

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of process.stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    length += buffer.length;
    if (length > MAX_STDIN_BYTES) {
      throw new CniError(CNI_CODES.decodingFailure, `the network configuration on stdin is larger than ${MAX_STDIN_BYTES} bytes`, 'pass the network configuration (a small JSON document) on stdin');
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const paths = fanPaths(process.env);
const runner = new ExecRunner();
const stderr = (text: string): void => void process.stderr.write(text);
const stdout = (text: string): void => void process.stdout.write(text);

let stdin: string | undefined;
try {
  stdin = await readStdin();
} catch (error) {
  process.exitCode = reportCniError({ env: process.env, stdout, stderr }, error);
}

if (stdin !== undefined) {
  process.exitCode = await runCni(
    {
      env: process.env,
      stdin,
      stdout,
      stderr,
    },
    fanCniPlugin({
      fans: () => readFanView({ host: new IpHostReader(runner), stateDir: paths.stateDir }),
      leases: (fan) => openLeaseStore(paths.stateDir, fan),
      allLeaseStores: async () => (await leaseBridges(paths.stateDir)).map((bridge) => openLeaseStoreByBridge(paths.stateDir, bridge)),
      links: new IpSandboxLinks(runner, process.pid),
      log: (line) => stderr(`fan-cni: ${line}\n`),
      // policy: groups from the applied policy, and port binding
      groupLeases: (fan, request) => groupLeaseStore({ paths }, fan, request),
      bindPort: (hostIf, address) => bindPort({ runner, stateDir: paths.stateDir }, hostIf, address),
      unbindPort: (hostIf) => unbindPort({ runner, stateDir: paths.stateDir }, hostIf),
    }),
  );
}

/** `fanctl doctor`: gathers the shared context, runs the checks, returns the report (printing is separate). */
import { parseIpv4 } from '../../core/address/ipv4.js';
import { ConfigError, FanError, errorMessage } from '../../core/errors.js';
import type { HostDeps } from '../../app/host.js';
import { CHECKS } from '../../doctor/checks/index.js';
import { gatherContext } from '../../doctor/context.js';
import { type DoctorReport, runChecks, selectChecks } from '../../doctor/run.js';
import { progressBar } from '../progress.js';

export interface DoctorOptions {
  readonly peer?: readonly string[];
  readonly check?: readonly string[];
  readonly json?: boolean;
}

export async function doctorCommand(opts: DoctorOptions, deps: HostDeps): Promise<DoctorReport> {
  const peers = opts.peer ?? [];
  for (const p of peers) {
    try {
      parseIpv4(p);
    } catch {
      throw new ConfigError(
        `--peer ${p} is not an IPv4 address`,
        "give the peer host's underlay address, e.g. --peer 172.16.0.12",
      );
    }
  }
  const checks = selectChecks(CHECKS, opts.check ?? []);
  const ctx = await gatherContext(deps, peers).catch((error: unknown) => {
    throw new FanError(
      `doctor could not read this host's fan state: ${errorMessage(error)}`,
      'run fanctl doctor as root (it reads eBPF maps, nftables and iptables)',
      { cause: error },
    );
  });
  return runChecks(checks, ctx, opts.json ? undefined : progressBar('doctor'));
}

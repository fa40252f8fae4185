/**
 * The `fan` CNI plugin doing the call in this process (no agent running, or FAN_CNI_IN_PROCESS=1): the state dir
 * (leases, fans) comes from FAN_STATE_DIR (default /run/fan), as for fanctl. Loaded on demand by fan-cni.ts, so a
 * forwarded call never pays for these modules.
 */
import { fanPaths } from '../app/paths.js';
import { readFanView } from '../app/fans.js';
import { groupLeaseStore } from '../app/policy.js';
import { NftPortBinder } from '../app/port-bindings.js';
import { runCni } from '../cni/dispatcher.js';
import { fanCniPlugin } from '../cni/plugin.js';
import { ExecRunner } from '../kernel/exec.js';
import { IpHostReader } from '../kernel/host-reader.js';
import { IpSandboxLinks } from '../kernel/sandbox-links.js';
import { leaseBridges, openLeaseStore, openLeaseStoreByBridge } from '../store/lease-file.js';

export function runInProcess(env: Readonly<Record<string, string | undefined>>, stdin: string): Promise<number> {
  const paths = fanPaths(env);
  const runner = new ExecRunner();
  const stderr = (text: string): void => void process.stderr.write(text);
  return runCni(
    { env, stdin, stdout: (text) => void process.stdout.write(text), stderr },
    fanCniPlugin({
      fans: () => readFanView({ host: new IpHostReader(runner), stateDir: paths.stateDir }),
      leases: (fan) => openLeaseStore(paths.stateDir, fan),
      allLeaseStores: async () =>
        (await leaseBridges(paths.stateDir)).map((bridge) => openLeaseStoreByBridge(paths.stateDir, bridge)),
      links: new IpSandboxLinks(runner, process.pid),
      log: (line) => stderr(`fan-cni: ${line}\n`),
      // policy: groups from the applied policy
      groupLeases: (fan, request) => groupLeaseStore({ paths }, fan, request),
      bindings: new NftPortBinder(runner, paths.stateDir),
    }),
  );
}

/** `fanctl install-service`: the layout of this installation (node + this package's entry point) and printing. */
import { type InstallServiceReport, installService } from '../../app/service.js';
import { DEFAULT_AGENT_ENVIRONMENT, LOCAL_UNIT_DIR, type ServiceLayout } from '../../service/units.js';

export interface InstallServiceOptions {
  readonly root: string;
  /** The fanctl command the units run; default: this node and this package's fanctl entry point. */
  readonly fanctl?: string;
  readonly config: string;
  readonly unitDir?: string;
}

export function localLayout(
  opts: InstallServiceOptions,
  packageRoot: string,
  node: string = process.execPath,
): ServiceLayout {
  return {
    fanctl: opts.fanctl !== undefined ? [opts.fanctl] : [node, `${packageRoot}dist/src/bin/fanctl.js`],
    config: opts.config,
    agentEnvironment: DEFAULT_AGENT_ENVIRONMENT,
    unitDir: opts.unitDir ?? LOCAL_UNIT_DIR,
    installedBy: 'fanctl install-service',
  };
}

export function installServiceCommand(opts: InstallServiceOptions, packageRoot: string): Promise<InstallServiceReport> {
  return installService(localLayout(opts, packageRoot), opts.root);
}

export function renderInstallService(report: InstallServiceReport): string {
  const lines = report.files.map(
    (f) => `${f.action.padEnd(9)} ${report.root === '/' ? '' : report.root.replace(/\/+$/, '')}${f.path}`,
  );
  return `${lines.join('\n')}\nnext: ${report.next.join(' && ')}\n`;
}

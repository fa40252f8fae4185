/** Detects, before any change, whether this host can run fan; every missing piece is reported with its fix. */
import { access, readFile } from 'node:fs/promises';
import { PrerequisiteError } from '../core/errors.js';
import type { CommandRunner } from '../ports/runner.js';

export interface Requirements {
  readonly bpfObject: string;
  readonly dhcp: boolean;
}

export async function probeHost(runner: CommandRunner, req: Requirements): Promise<string[]> {
  const missing: string[] = [];
  const works = async (argv: string[]): Promise<boolean> =>
    (await runner.run(argv, { allowFailure: true }).catch(() => ({ exitCode: 127 }))).exitCode === 0;
  if (!(await works(['ip', '-V']))) missing.push('iproute2 (`ip`) is not installed: apt-get install iproute2');
  if (!(await works(['tc', '-V']))) missing.push('tc is not installed: apt-get install iproute2');
  if (!(await works(['bpftool', 'version']))) missing.push('bpftool is not installed: apt-get install bpftool');
  if (!(await works(['nft', '--version']))) missing.push('nft is not installed: apt-get install nftables');
  else if (!(await works(['nft', 'list', 'tables'])))
    missing.push('nftables is not usable here (kernel without nf_tables, or not root)');
  if (!(await works(['bpftool', '-j', 'prog', 'show'])))
    missing.push('the BPF syscall is not available (kernel without CONFIG_BPF_SYSCALL, or not root)');
  try {
    const head = await readFile(req.bpfObject);
    if (head.subarray(0, 4).toString('latin1') !== '\x7fELF')
      missing.push(`${req.bpfObject} is not an ELF object: rebuild with npm run build`);
  } catch {
    missing.push(
      `eBPF object ${req.bpfObject} is missing: install clang llvm libbpf-dev and run npm run build (or set FAN_BPF_OBJECT)`,
    );
  }
  // The vxlan driver registers /sys/module/vxlan whether built in or loaded.
  if (
    !(await access('/sys/module/vxlan').then(
      () => true,
      () => false,
    ))
  )
    missing.push('the kernel has no VXLAN driver (CONFIG_VXLAN) loaded');
  if (req.dhcp && !(await works(['dnsmasq', '--version'])))
    missing.push('dnsmasq is not installed (needed by dhcp): apt-get install dnsmasq-base');
  return missing;
}

/** Changing the host's network needs root (CAP_NET_ADMIN and more); say so before anything is attempted. */
export function requireRoot(what: string): void {
  if (process.getuid !== undefined && process.getuid() !== 0) {
    throw new PrerequisiteError(`${what} changes this host's network and needs root`, `run it with sudo`);
  }
}

export async function requireHost(runner: CommandRunner, req: Requirements): Promise<void> {
  const missing = await probeHost(runner, req);
  if (missing.length > 0) {
    throw new PrerequisiteError(
      `this host cannot run fan yet:\n  - ${missing.join('\n  - ')}`,
      'install or enable the pieces listed above; nothing was changed',
    );
  }
}

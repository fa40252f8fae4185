/** Detects, before any change, whether this host can run fan; every missing piece is reported with its fix. */
import { access, readFile } from 'node:fs/promises';
import { PrerequisiteError } from '../core/errors.js';
import type { CommandRunner } from '../ports/runner.js';

export interface Requirements {
  readonly bpfObject: string;
  readonly dhcp: boolean;
}

export async function probeHost(runner: CommandRunner, req: Requirements): Promise<string[]> {
  const works = async (argv: string[]): Promise<boolean> =>
    (await runner.run(argv, { allowFailure: true }).catch(() => ({ exitCode: 127 }))).exitCode === 0;
  // Every probe at once: run one after the other they cost `fanctl up` ~0.1 s on a fresh host.
  const [ip, tc, bpftool, nft, nftTables, bpfSyscall, object, vxlan, dnsmasq] = await Promise.all([
    works(['ip', '-V']),
    works(['tc', '-V']),
    works(['bpftool', 'version']),
    works(['nft', '--version']),
    works(['nft', 'list', 'tables']),
    works(['bpftool', '-j', 'prog', 'show']),
    readFile(req.bpfObject).then(
      (head) => (head.subarray(0, 4).toString('latin1') === '\x7fELF' ? 'elf' : 'other'),
      () => 'missing' as const,
    ),
    // The vxlan driver registers /sys/module/vxlan whether built in or loaded.
    access('/sys/module/vxlan').then(
      () => true,
      () => false,
    ),
    req.dhcp ? works(['dnsmasq', '--version']) : Promise.resolve(true),
  ]);
  const missing: string[] = [];
  if (!ip) missing.push('iproute2 (`ip`) is not installed: apt-get install iproute2');
  if (!tc) missing.push('tc is not installed: apt-get install iproute2');
  if (!bpftool) missing.push('bpftool is not installed: apt-get install bpftool');
  if (!nft) missing.push('nft is not installed: apt-get install nftables');
  else if (!nftTables) missing.push('nftables is not usable here (kernel without nf_tables, or not root)');
  if (!bpfSyscall) missing.push('the BPF syscall is not available (kernel without CONFIG_BPF_SYSCALL, or not root)');
  if (object === 'other') missing.push(`${req.bpfObject} is not an ELF object: rebuild with npm run build`);
  if (object === 'missing')
    missing.push(
      `eBPF object ${req.bpfObject} is missing: ` +
        `install clang llvm libbpf-dev and run npm run build (or set FAN_BPF_OBJECT)`,
    );
  if (!vxlan) missing.push('the kernel has no VXLAN driver (CONFIG_VXLAN) loaded');
  if (!dnsmasq) missing.push('dnsmasq is not installed (needed by dhcp): apt-get install dnsmasq-base');
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

/** Kernel abilities and the tools fan drives (the same probes `fanctl up` runs), and the tools doctor itself uses. */
import { probeHost } from '../../kernel/probes.js';
import { type Check, fail, ok, warn } from '../check.js';

export interface KernelObservation {
  /** What `fanctl up` would refuse to start without, each with its fix. */
  readonly missing: readonly string[];
  /** Tools only some doctor checks need: name → installed. */
  readonly doctorTools: Readonly<Record<string, boolean>>;
}

const DOCTOR_TOOLS: Readonly<Record<string, { argv: string[]; pkg: string }>> = {
  ethtool: { argv: ['ethtool', '--version'], pkg: 'ethtool' },
  arping: { argv: ['arping', '-V'], pkg: 'iputils-arping' },
  ping: { argv: ['ping', '-V'], pkg: 'iputils-ping' },
  ss: { argv: ['ss', '-V'], pkg: 'iproute2' },
};

export const kernelCheck: Check<KernelObservation> = {
  id: 'kernel',
  title: 'kernel abilities and tools',
  async gather(ctx) {
    const missing = await probeHost(ctx.runner, { bpfObject: ctx.paths.bpfObject, dhcp: ctx.fans.some((f) => f.dhcp) });
    const doctorTools: Record<string, boolean> = {};
    for (const [name, tool] of Object.entries(DOCTOR_TOOLS)) {
      const result = await ctx.runner.run(tool.argv, { allowFailure: true }).catch(() => ({ exitCode: 127 }));
      doctorTools[name] = result.exitCode === 0;
    }
    return { missing, doctorTools };
  },
  judge(o) {
    if (o.missing.length > 0) return fail(o.missing.join('; '), 'install or enable the pieces named above');
    const absent = Object.entries(o.doctorTools)
      .filter(([, present]) => !present)
      .map(([name]) => name);
    if (absent.length > 0) {
      const pkgs = absent.map((name) => DOCTOR_TOOLS[name]?.pkg ?? name);
      return warn(
        `fan can run, but doctor cannot use ${absent.join(', ')} (not installed)`,
        `apt-get install ${[...new Set(pkgs)].join(' ')}`,
      );
    }
    return ok('iproute2, tc, nft, bpftool, the BPF syscall, the VXLAN driver and the eBPF object are all there');
  },
};

/**
 * fan's eBPF programs: attached where the plan puts them (egress and ingress on the tunnel; egress on each host-gw
 * underlay device) and their overlay table filled with exactly the plan's rows (an empty or stale table sends
 * every packet to the wrong host or drops it).
 */
import { formatIpv4 } from '../../core/address/ipv4.js';
import type { OverlayEntry } from '../../core/model/host-state.js';
import { type Check, type Finding, combine, fail, ok, skip } from '../check.js';

export interface ProgramSite {
  readonly dev: string;
  readonly directions: readonly ('ingress' | 'egress')[];
  readonly attached: readonly ('ingress' | 'egress')[];
  readonly expected: readonly OverlayEntry[];
  /** The egress program's table as read back (undefined: not attached or unreadable). */
  readonly table?: readonly OverlayEntry[];
}

export interface EbpfObservation {
  readonly sites: readonly ProgramSite[];
  readonly reup: string;
}

const row = (e: OverlayEntry): string =>
  `${formatIpv4(e.overlay)}/${formatIpv4(e.overlayMask)} over ` +
  `${formatIpv4(e.underlay)}/${formatIpv4(e.underlayMask)} shift ` +
  `${e.shift} vni ${e.vni} local ${formatIpv4(e.local)}`;

export const ebpfCheck: Check<EbpfObservation> = {
  id: 'ebpf',
  title: 'eBPF programs and maps',
  async gather(ctx) {
    const sites = ctx.desired.devices.map((d): ProgramSite => {
      const programs = ctx.current.tcPrograms.filter((p) => p.dev === d.dev);
      // The egress program's table, or the only program's (a fast path's programs sit on ingress).
      const table = (programs.find((p) => p.direction === 'egress') ?? programs[0])?.overlays;
      return {
        dev: d.dev,
        directions: d.programs.map((p) => p.direction),
        attached: programs.map((p) => p.direction),
        expected: d.overlays,
        ...(table ? { table } : {}),
      };
    });
    return { sites, reup: ctx.reup };
  },
  judge(o) {
    const findings = o.sites.map((s): Finding => {
      const missing = s.directions.filter((d) => !s.attached.includes(d));
      if (missing.length > 0) {
        const lost = missing.includes('egress')
          ? 'nothing is sent to other hosts'
          : 'nothing from other hosts is accepted';
        return fail(
          `fan's eBPF ${missing.join(' and ')} program${missing.length > 1 ? 's are' : ' is'} ` +
            `not attached to ${s.dev}: ${lost}`,
          `${o.reup} (re-attaches them)`,
        );
      }
      const want = s.expected.map(row);
      const have = (s.table ?? []).map(row);
      if (want.join('\n') !== have.join('\n')) {
        const absent = want.filter((r) => !have.includes(r));
        const extra = have.filter((r) => !want.includes(r));
        const rows = [...absent.map((r) => `missing ${r}`), ...extra.map((r) => `unexpected ${r}`)];
        return fail(
          `the overlay table of ${s.dev} is not the plan's: ${rows.join('; ') || 'rows out of order'}`,
          `${o.reup} (rewrites the table)`,
        );
      }
      return ok(`${s.dev}: ${s.directions.join(' + ')} attached, ${want.length} overlay row(s) as planned`);
    });
    return combine(findings, skip('no fan is up'));
  },
};

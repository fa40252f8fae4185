/**
 * Two hosts claiming one underlay address: each host's slice follows from its address, so two such hosts own the
 * same slice and the underlay delivers each one's traffic to whichever answered ARP last. Probed with duplicate
 * address detection (`arping -D`: requests from 0.0.0.0, which only another holder of the address answers).
 */
import { formatIpv4 } from '../../core/address/ipv4.js';
import { type Check, type Finding, combine, fail, ok, skip, warn } from '../check.js';

export interface DadProbe {
  readonly dev: string;
  readonly address: string;
  readonly ownMac?: string;
  /** MACs that answered for the address. */
  readonly replies: readonly string[];
  /** Set when arping could not run. */
  readonly error?: string;
}

export interface DuplicateObservation {
  readonly probes: readonly DadProbe[];
}

export function parseArpingReplies(text: string): string[] {
  return [
    ...new Set([...text.matchAll(/reply from [\d.]+ \[([0-9A-Fa-f:]{17})\]/g)].map((m) => (m[1] ?? '').toLowerCase())),
  ];
}

export const duplicateAddressCheck: Check<DuplicateObservation> = {
  id: 'duplicate-address',
  title: 'another host with this underlay address',
  async gather(ctx) {
    const probes: DadProbe[] = [];
    const seen = new Set<string>();
    for (const fan of ctx.fans) {
      const address = formatIpv4(fan.host.host);
      if (seen.has(`${fan.device} ${address}`)) continue;
      seen.add(`${fan.device} ${address}`);
      const ownMac = ctx.facts.interfaces.find((i) => i.name === fan.device)?.mac;
      const out = await ctx.runner
        .run(['arping', '-D', '-I', fan.device, '-c', '2', '-w', '3', address], {
          allowFailure: true,
          timeoutMs: 10_000,
        })
        .catch((error: unknown) => ({ exitCode: 127, stdout: '', stderr: String(error) }));
      const base = { dev: fan.device, address, ...(ownMac ? { ownMac } : {}) };
      if (out.exitCode !== 0 && out.exitCode !== 1)
        probes.push({ ...base, replies: [], error: out.stderr.trim() || `arping exited ${out.exitCode}` });
      else probes.push({ ...base, replies: parseArpingReplies(out.stdout) });
    }
    return { probes };
  },
  judge(o) {
    if (o.probes.length === 0) return skip('no fan is up');
    const findings = o.probes.map((p): Finding => {
      if (p.error !== undefined)
        return warn(
          `duplicate address detection on ${p.dev} could not run: ${p.error}`,
          'apt-get install iputils-arping',
        );
      const others = p.replies.filter((mac) => mac !== p.ownMac?.toLowerCase());
      if (others.length > 0) {
        return fail(
          `another machine (${others.join(', ')}) answers ARP for ${p.address} on ${p.dev}: ` +
            `two hosts claim this underlay address, and with it the same overlay slices`,
          `give one of them another address (ip neigh show ${p.address} dev ${p.dev}; ` +
            `arping -D -I ${p.dev} ${p.address} repeats the probe)`,
        );
      }
      return ok(`no other host answers for ${p.address} on ${p.dev}`);
    });
    return combine(findings, skip('no fan is up'));
  },
};

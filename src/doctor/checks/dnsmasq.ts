/**
 * dnsmasq for fans with --dhcp: the process fan started is alive (pid recorded in the state dir, still a dnsmasq),
 * holds its DHCP socket on the fan bridge (UDP 67 bound to the bridge, as `ss` shows it), and answers a real
 * DHCPDISCOVER sent from this host onto the bridge with an offer from its slice.
 */
import { broadcast, contains, formatIpv4, parseIpv4 } from '../../core/address/ipv4.js';
import { type Check, type Finding, combine, fail, ok, skip } from '../check.js';

export interface DnsmasqFan {
  readonly bridge: string;
  readonly pid?: number;
  /** Pids of the dnsmasq processes holding UDP 67 on the bridge. */
  readonly listeners: readonly number[];
  readonly slice: string;
  /** The address dnsmasq offered, or why no offer came. */
  readonly answer: { readonly offered: string; readonly server?: string } | { readonly error: string };
}

export interface DnsmasqObservation {
  readonly fans: readonly DnsmasqFan[];
  readonly reup: string;
}

/** `ss -H -ulnp 'sport = :67'` lines: `UNCONN 0 0 0.0.0.0%fan-250:67 0.0.0.0:* users:(("dnsmasq",pid=10911,fd=4))`. */
export function parseDhcpListeners(text: string): { device: string; pid: number }[] {
  const out: { device: string; pid: number }[] = [];
  for (const line of text.split('\n')) {
    const device = /%([^:\s]+):67\s/.exec(line)?.[1];
    for (const m of line.matchAll(/\("dnsmasq",pid=(\d+)/g))
      if (device !== undefined) out.push({ device, pid: Number(m[1]) });
  }
  return out;
}

export const dnsmasqCheck: Check<DnsmasqObservation> = {
  id: 'dnsmasq',
  title: 'dnsmasq for DHCP fans',
  async gather(ctx) {
    const dhcpFans = ctx.fans.filter((f) => f.dhcp);
    const ss =
      dhcpFans.length === 0
        ? undefined
        : await ctx.runner.run(['ss', '-H', '-ulnp', 'sport = :67'], { allowFailure: true });
    const listeners = parseDhcpListeners(ss?.stdout ?? '');
    const fans: DnsmasqFan[] = [];
    for (const f of dhcpFans) {
      const running = ctx.current.dhcp.find((d) => d.bridge === f.bridge);
      // Two tries: a first DISCOVER can go unanswered while dnsmasq is still settling after a start.
      let probe = await ctx.dhcpProbe(formatIpv4(broadcast(f.host.slice)));
      if ('error' in probe) probe = await ctx.dhcpProbe(formatIpv4(broadcast(f.host.slice)));
      fans.push({
        bridge: f.bridge,
        ...(running ? { pid: running.pid } : {}),
        listeners: listeners.filter((l) => l.device === f.bridge).map((l) => l.pid),
        slice: `${formatIpv4(f.host.slice.address)}/${f.host.slice.prefix}`,
        answer:
          'offer' in probe
            ? { offered: probe.offer.yiaddr, ...(probe.offer.server ? { server: probe.offer.server } : {}) }
            : { error: probe.error },
      });
    }
    return { fans, reup: ctx.reup };
  },
  judge(o) {
    if (o.fans.length === 0) return skip('no fan with --dhcp');
    const findings = o.fans.map((f): Finding => {
      if (f.pid === undefined)
        return fail(
          `the dnsmasq fan started for ${f.bridge} is not running: containers asking for DHCP get no address`,
          `${o.reup} (restarts it)`,
        );
      if (!f.listeners.includes(f.pid))
        return fail(
          `dnsmasq ${f.pid} for ${f.bridge} runs but holds no DHCP socket (UDP 67) on ${f.bridge}`,
          `kill ${f.pid}; ${o.reup}`,
        );
      if ('error' in f.answer)
        return fail(
          `dnsmasq ${f.pid} for ${f.bridge} does not answer a DHCPDISCOVER: ${f.answer.error}`,
          `kill ${f.pid}; ${o.reup}`,
        );
      const [net, len] = f.slice.split('/');
      if (!contains({ address: parseIpv4(net ?? '0.0.0.0'), prefix: Number(len) }, parseIpv4(f.answer.offered))) {
        return fail(
          `a DHCP server answered on ${f.bridge} with ${f.answer.offered}, outside the slice ${f.slice}`,
          `find the other DHCP server${f.answer.server ? ` (${f.answer.server})` : ''} and keep it off fan bridges`,
        );
      }
      return ok(`${f.bridge}: dnsmasq ${f.pid} listening on UDP 67, offered ${f.answer.offered}`);
    });
    return combine(findings, skip('no fan with --dhcp'));
  },
};

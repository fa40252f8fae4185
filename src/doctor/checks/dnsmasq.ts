/**
 * dnsmasq for fans with --dhcp: the process fan started is alive (pid recorded in the state dir, still a dnsmasq)
 * and holds its DHCP socket on the fan bridge (UDP 67 bound to the bridge, as `ss` shows it).
 */
import { type Check, type Finding, combine, fail, ok, skip } from '../check.js';

export interface DnsmasqFan {
  readonly bridge: string;
  readonly pid?: number;
  /** Pids of the dnsmasq processes holding UDP 67 on the bridge. */
  readonly listeners: readonly number[];
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
    for (const m of line.matchAll(/\("dnsmasq",pid=(\d+)/g)) if (device !== undefined) out.push({ device, pid: Number(m[1]) });
  }
  return out;
}

export const dnsmasqCheck: Check<DnsmasqObservation> = {
  id: 'dnsmasq',
  title: 'dnsmasq for DHCP fans',
  async gather(ctx) {
    const dhcpFans = ctx.fans.filter((f) => f.dhcp);
    const ss = dhcpFans.length === 0 ? undefined : await ctx.runner.run(['ss', '-H', '-ulnp', 'sport = :67'], { allowFailure: true });
    const listeners = parseDhcpListeners(ss?.stdout ?? '');
    return {
      fans: dhcpFans.map((f) => {
        const running = ctx.current.dhcp.find((d) => d.bridge === f.bridge);
        return { bridge: f.bridge, ...(running ? { pid: running.pid } : {}), listeners: listeners.filter((l) => l.device === f.bridge).map((l) => l.pid) };
      }),
      reup: ctx.reup,
    };
  },
  judge(o) {
    if (o.fans.length === 0) return skip('no fan with --dhcp');
    const findings = o.fans.map((f): Finding => {
      if (f.pid === undefined) return fail(`the dnsmasq fan started for ${f.bridge} is not running: containers asking for DHCP get no address`, `${o.reup} (restarts it)`);
      if (!f.listeners.includes(f.pid)) return fail(`dnsmasq ${f.pid} for ${f.bridge} runs but holds no DHCP socket (UDP 67) on ${f.bridge}`, `kill ${f.pid}; ${o.reup}`);
      return ok(`${f.bridge}: dnsmasq ${f.pid} listening on UDP 67`);
    });
    return combine(findings, skip('no fan with --dhcp'));
  },
};

/**
 * One scrape's worth of facts, read fresh each time from the paths `fanctl status` uses: the host status (links,
 * eBPF maps, nft, iptables), the IPAM lease tables, dnsmasq's lease files, the counters of fan's nft table and the
 * event log; the doctor's verdicts come from its last background run.
 */
import { readFile } from 'node:fs/promises';
import { readFanView } from '../app/fans.js';
import { type HostDeps, hostStatus } from '../app/host.js';
import { poolOf } from '../core/ipam/pool.js';
import { dhcpSpec } from '../core/plan/host-plan.js';
import { readNftCounters } from '../kernel/nft-rule-counters.js';
import { openLeaseStore } from '../store/lease-file.js';
import { EventLog } from '../store/event-log.js';
import { type DhcpInput, type DoctorInput, type IpamInput, type MetricsInput, countDnsmasqLeases } from './samples.js';

/** `doctor`: the latest background doctor run, if there is one. */
export async function collectMetricsInput(
  deps: HostDeps,
  doctor?: () => DoctorInput | undefined,
): Promise<MetricsInput> {
  const status = await hostStatus(deps);
  const view = await readFanView({ host: deps.host, stateDir: deps.paths.stateDir });
  const ipam: IpamInput[] = [];
  const dhcp: DhcpInput[] = [];
  for (const fan of view.fans) {
    const leases = await openLeaseStore(deps.paths.stateDir, fan).list();
    ipam.push({ bridge: fan.bridge, pool: poolOf(fan), leased: leases.map((l) => l.address) });
    if (fan.dhcp) {
      const spec = dhcpSpec(fan, { stateDir: deps.paths.stateDir });
      const text = await readFile(spec.leaseFile, 'utf8').catch(() => '');
      dhcp.push({
        bridge: fan.bridge,
        rangeAddresses: Math.max(0, spec.rangeEnd - spec.rangeStart + 1),
        leases: countDnsmasqLeases(text),
      });
    }
  }
  const nft = status.nftTable ? await readNftCounters(deps.runner) : undefined;
  const events = await new EventLog(deps.paths.stateDir).read();
  const last = doctor?.();
  return { status, ipam, dhcp, events, ...(nft ? { nft } : {}), ...(last ? { doctor: last } : {}) };
}

/**
 * The Prometheus metrics fan exports, and the mapping from what fan reads on a scrape (the host status, the IPAM
 * lease tables, dnsmasq's lease files, nftables' counters) to samples. Pure: the catalogue is data, the mapping a
 * function, so names, labels and values are unit-tested without a kernel. src/metrics/registry.ts hands the
 * samples to prom-client, which renders the text format.
 *
 * Conventions: counters end in `_total`, units are in the name (`_bytes`, `_packets`), every per-fan series carries
 * the label `fan` (the bridge name, unique on a host), drop counters carry `reason`.
 */
import { type Ipv4, contains } from '../core/address/ipv4.js';
import { type IpamPool, poolSize, reservedRangeOf } from '../core/ipam/pool.js';
import type { HostStatus } from '../app/host.js';
import type { Verdict } from '../doctor/check.js';
import { FAN_COMMANDS, FAN_EVENTS, type EventCounts } from '../store/event-log.js';

/** The verdicts a doctor check can have, each a series of the state set `fan_doctor_check_status`. */
export const VERDICTS: readonly Verdict[] = ['ok', 'warn', 'fail', 'skip'];

export type MetricType = 'counter' | 'gauge';

export interface MetricDescriptor {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labelNames: readonly string[];
}

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The IPAM table of one fan: its pool and the addresses leased from it. */
export interface IpamInput {
  readonly bridge: string;
  readonly pool: IpamPool;
  readonly leased: readonly Ipv4[];
}

/** dnsmasq on one fan bridge: the size of its range and the leases in its lease file. */
export interface DhcpInput {
  readonly bridge: string;
  readonly rangeAddresses: number;
  readonly leases: number;
}

/** One rule of fan's nftables table that has a counter. */
export interface NftCounter {
  /** The rule's comment without the `fan: ` prefix, e.g. `egress NAT to the underlay address`. */
  readonly rule: string;
  readonly packets: number;
  readonly bytes: number;
}

/** The last `fanctl doctor` run of the metrics endpoint (it runs in the background, every few minutes). */
export interface DoctorInput {
  readonly checks: readonly { readonly id: string; readonly verdict: Verdict }[];
  /** Unix time, seconds, when the run finished. */
  readonly finishedAt: number;
  readonly durationSeconds: number;
}

export interface MetricsInput {
  readonly status: HostStatus;
  readonly ipam: readonly IpamInput[];
  readonly dhcp: readonly DhcpInput[];
  /** Undefined when fan's table could not be read (not up, or nft missing). */
  readonly nft?: readonly NftCounter[];
  /** Up/down/repair events and failed runs, from the state directory's event log. */
  readonly events?: EventCounts;
  /** Undefined until the first doctor run finished (or when the doctor is off). */
  readonly doctor?: DoctorInput;
}

/** Why the eBPF programs dropped a packet, as the `reason` label. */
export const DROP_REASONS = {
  /** Egress: the destination maps to this host (it should have been delivered locally). */
  localDestination: 'local_destination',
  /** Ingress: the inner source does not map to the sending underlay host (anti-spoofing). */
  spoofedSource: 'spoofed_source',
  /** Egress: the destination matched no overlay, or the frame was not IPv4. */
  noOverlay: 'no_overlay',
  /** Ingress: the VNI belongs to no fan on this host, or the packet was malformed. */
  unknownVni: 'unknown_vni',
} as const;

const FAN = ['fan'] as const;

export const METRICS = {
  up: {
    name: 'fan_up',
    type: 'gauge',
    labelNames: FAN,
    help:
      'Whether the fan is up: its bridge is up and (vxlan) the tunnel is up with the eBPF programs attached ' +
      '(1) or not (0).',
  },
  info: {
    name: 'fan_info',
    type: 'gauge',
    labelNames: ['fan', 'overlay', 'underlay', 'underlay_host', 'slice', 'type', 'source'],
    help:
      "Always 1: the fan and what it maps (overlay, underlay network, this host's underlay address and slice, " +
      'data plane, where it was brought up from).',
  },
  mtu: { name: 'fan_mtu_bytes', type: 'gauge', labelNames: FAN, help: 'MTU of the fan bridge (what containers get).' },
  txPackets: {
    name: 'fan_transmit_packets_total',
    type: 'counter',
    labelNames: FAN,
    help: 'Packets the eBPF egress program sent to another host (tunnelled or redirected).',
  },
  txBytes: {
    name: 'fan_transmit_bytes_total',
    type: 'counter',
    labelNames: FAN,
    help: 'Bytes (inner frames) the eBPF egress program sent to another host.',
  },
  rxPackets: {
    name: 'fan_receive_packets_total',
    type: 'counter',
    labelNames: FAN,
    help: 'Packets from other hosts the eBPF ingress program accepted (vxlan fans).',
  },
  dropped: {
    name: 'fan_dropped_packets_total',
    type: 'counter',
    labelNames: ['fan', 'reason'],
    help: 'Packets the eBPF programs dropped, by reason.',
  },
  tunnelDropped: {
    name: 'fan_tunnel_dropped_packets_total',
    type: 'counter',
    labelNames: ['reason'],
    help: 'Packets the eBPF programs dropped that belong to no fan (no overlay matched, unknown VNI), by reason.',
  },
  tunnelUp: {
    name: 'fan_tunnel_up',
    type: 'gauge',
    labelNames: [],
    help: 'Whether the fan-vxlan tunnel device exists and is up (1) or not (0).',
  },
  tunnelPrograms: {
    name: 'fan_tunnel_ebpf_programs',
    type: 'gauge',
    labelNames: [],
    help: 'eBPF programs attached to the tunnel device (2 when healthy: egress and ingress).',
  },
  containers: {
    name: 'fan_attached_containers',
    type: 'gauge',
    labelNames: FAN,
    help: 'Interfaces attached to the fan bridge (containers).',
  },
  ipamSize: {
    name: 'fan_ipam_pool_addresses',
    type: 'gauge',
    labelNames: FAN,
    help: 'Addresses the IPAM may hand out on this host (the slice minus reserve, DHCP range, network and broadcast).',
  },
  ipamFree: {
    name: 'fan_ipam_free_addresses',
    type: 'gauge',
    labelNames: FAN,
    help: 'Addresses of the IPAM pool not leased.',
  },
  ipamLeases: {
    name: 'fan_ipam_leases',
    type: 'gauge',
    labelNames: FAN,
    help: 'IPAM leases held (CNI and Docker attachments), including any outside the current pool.',
  },
  dhcpRange: {
    name: 'fan_dhcp_range_addresses',
    type: 'gauge',
    labelNames: FAN,
    help: 'Addresses in the DHCP range dnsmasq serves on the fan bridge.',
  },
  dhcpLeases: {
    name: 'fan_dhcp_leases',
    type: 'gauge',
    labelNames: FAN,
    help: "Leases in dnsmasq's lease file for the fan bridge.",
  },
  dhcpUp: {
    name: 'fan_dhcp_server_up',
    type: 'gauge',
    labelNames: FAN,
    help: "Whether the fan's dnsmasq is running (1) or not (0), for fans with DHCP.",
  },
  nftPresent: {
    name: 'fan_nftables_table_present',
    type: 'gauge',
    labelNames: [],
    help: "Whether fan's nftables table (ip fan) exists (1) or not (0).",
  },
  nftPackets: {
    name: 'fan_nftables_rule_packets_total',
    type: 'counter',
    labelNames: ['rule'],
    help: "Packets counted by a rule of fan's nftables table, by the rule's comment.",
  },
  nftBytes: {
    name: 'fan_nftables_rule_bytes_total',
    type: 'counter',
    labelNames: ['rule'],
    help: "Bytes counted by a rule of fan's nftables table, by the rule's comment.",
  },
  forwardRules: {
    name: 'fan_iptables_forward_accept_rules',
    type: 'gauge',
    labelNames: [],
    help: "fan's ACCEPT rules in iptables' FORWARD (or DOCKER-USER) chain (one per fan bridge when healthy).",
  },
  events: {
    name: 'fan_events_total',
    type: 'counter',
    labelNames: ['fan', 'event'],
    help:
      'Times the fan came up, went down, or was repaired (an up that found the kernel different from what it ' +
      'should be), since the state directory was created.',
  },
  commandFailures: {
    name: 'fan_command_failures_total',
    type: 'counter',
    labelNames: ['command'],
    help: 'fanctl up or down runs that failed (and rolled back), since the state directory was created.',
  },
  doctorCheck: {
    name: 'fan_doctor_check_status',
    type: 'gauge',
    labelNames: ['check', 'verdict'],
    help: "The last doctor run's verdict of each check: 1 for the check's verdict, 0 for the others.",
  },
  doctorFailed: {
    name: 'fan_doctor_checks_failed',
    type: 'gauge',
    labelNames: [],
    help: 'Doctor checks whose last verdict was fail (fanctl doctor names them and the fix).',
  },
  doctorLastRun: {
    name: 'fan_doctor_last_run_timestamp_seconds',
    type: 'gauge',
    labelNames: [],
    help: 'When the last doctor run finished (Unix time).',
  },
  doctorDuration: {
    name: 'fan_doctor_run_duration_seconds',
    type: 'gauge',
    labelNames: [],
    help: 'How long the last doctor run took.',
  },
} as const satisfies Record<string, MetricDescriptor>;

export const METRIC_LIST: readonly MetricDescriptor[] = Object.values(METRICS);

const bool = (value: boolean): number => (value ? 1 : 0);

/** Leases inside the pool (in the slice, outside every reserved range): the ones that use up pool addresses. */
export function leasedFromPool(pool: IpamPool, leased: readonly Ipv4[]): number {
  return new Set(leased.filter((a) => contains(pool.slice, a) && reservedRangeOf(pool, a) === undefined)).size;
}

/** Every sample of one scrape. */
export function metricSamples(input: MetricsInput): Sample[] {
  const out: Sample[] = [];
  const add = (metric: MetricDescriptor, labels: Record<string, string>, value: number): void => {
    out.push({ name: metric.name, labels, value });
  };
  const { status } = input;
  const tunnel = status.tunnel;
  const tunnelHealthy = tunnel !== undefined && tunnel.up && tunnel.programs.length > 0;
  for (const f of status.fans) {
    const fan = { fan: f.bridge };
    add(METRICS.up, fan, bool(f.bridgeUp && (f.type !== 'vxlan' || tunnelHealthy)));
    add(
      METRICS.info,
      {
        fan: f.bridge,
        overlay: f.overlay,
        underlay: f.underlay,
        underlay_host: f.underlayHost,
        slice: f.slice,
        type: f.type,
        source: f.source,
      },
      1,
    );
    add(METRICS.mtu, fan, f.mtu);
    add(METRICS.txPackets, fan, f.counters.txPackets);
    add(METRICS.txBytes, fan, f.counters.txBytes);
    add(METRICS.rxPackets, fan, f.counters.rxPackets);
    add(METRICS.dropped, { ...fan, reason: DROP_REASONS.localDestination }, f.counters.txDropLocal);
    add(METRICS.dropped, { ...fan, reason: DROP_REASONS.spoofedSource }, f.counters.rxDropSpoof);
    add(METRICS.containers, fan, f.attached.length);
    if (f.dhcp.enabled) add(METRICS.dhcpUp, fan, bool(f.dhcp.pid !== undefined));
  }
  add(METRICS.tunnelUp, {}, bool(tunnel?.up ?? false));
  add(METRICS.tunnelPrograms, {}, tunnel?.programs.length ?? 0);
  if (tunnel) {
    add(METRICS.tunnelDropped, { reason: DROP_REASONS.noOverlay }, tunnel.unmatched.txDropNomatch);
    add(METRICS.tunnelDropped, { reason: DROP_REASONS.unknownVni }, tunnel.unmatched.rxDropSpoof);
  }
  for (const table of input.ipam) {
    const fan = { fan: table.bridge };
    const size = poolSize(table.pool);
    add(METRICS.ipamSize, fan, size);
    add(METRICS.ipamFree, fan, Math.max(0, size - leasedFromPool(table.pool, table.leased)));
    add(METRICS.ipamLeases, fan, table.leased.length);
  }
  for (const d of input.dhcp) {
    add(METRICS.dhcpRange, { fan: d.bridge }, d.rangeAddresses);
    add(METRICS.dhcpLeases, { fan: d.bridge }, d.leases);
  }
  add(METRICS.nftPresent, {}, bool(status.nftTable));
  for (const rule of input.nft ?? []) {
    add(METRICS.nftPackets, { rule: rule.rule }, rule.packets);
    add(METRICS.nftBytes, { rule: rule.rule }, rule.bytes);
  }
  add(METRICS.forwardRules, {}, status.forwardRules.length);
  // Every fan that is up has its event series, at 0 before its first event, so rate() sees the first one.
  const eventFans = new Set([...status.fans.map((f) => f.bridge), ...Object.keys(input.events?.fans ?? {})]);
  for (const bridge of [...eventFans].sort()) {
    for (const event of FAN_EVENTS)
      add(METRICS.events, { fan: bridge, event }, input.events?.fans[bridge]?.[event] ?? 0);
  }
  for (const command of FAN_COMMANDS) add(METRICS.commandFailures, { command }, input.events?.failures[command] ?? 0);
  if (input.doctor) {
    for (const check of input.doctor.checks) {
      for (const verdict of VERDICTS)
        add(METRICS.doctorCheck, { check: check.id, verdict }, bool(check.verdict === verdict));
    }
    add(METRICS.doctorFailed, {}, input.doctor.checks.filter((c) => c.verdict === 'fail').length);
    add(METRICS.doctorLastRun, {}, input.doctor.finishedAt);
    add(METRICS.doctorDuration, {}, input.doctor.durationSeconds);
  }
  return out;
}

/** Lines of a dnsmasq lease file that are leases (`expiry mac address hostname client-id`). */
export function countDnsmasqLeases(text: string): number {
  return text.split('\n').filter((line) => /^\d+\s+\S+\s+\d+\.\d+\.\d+\.\d+\s/.test(line)).length;
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FanStatus, HostStatus } from '../app/host.js';
import { parseCidr, parseIpv4 } from '../core/address/ipv4.js';
import { makePool } from '../core/ipam/pool.js';
import { METRICS, METRIC_LIST, type Sample, countDnsmasqLeases, leasedFromPool, metricSamples } from './samples.js';

const zero = { txPackets: 0, txBytes: 0, txDropLocal: 0, txDropNomatch: 0, rxPackets: 0, rxDropSpoof: 0 };
const fan: FanStatus = {
  bridge: 'fan-250',
  overlay: '250.0.0.0/8',
  underlay: '172.16.0.0/16',
  underlayHost: '172.16.3.4',
  underlayDevice: 'eth0',
  slice: '250.3.4.0/24',
  gateway: '250.3.4.1',
  vni: 16384000,
  mtu: 1450,
  type: 'vxlan',
  dhcp: { enabled: false },
  hostReserve: 1,
  flags: 'host-reserve 1',
  source: '/etc/network/fan',
  bridgeUp: true,
  attached: ['veth1', 'veth2'],
  containers: [],
  counters: { txPackets: 12, txBytes: 1200, txDropLocal: 1, txDropNomatch: 0, rxPackets: 10, rxDropSpoof: 3 },
};
const tunnel = {
  name: 'fan-vxlan',
  mtu: 1450,
  up: true,
  programs: [
    { direction: 'egress', progId: 7 },
    { direction: 'ingress', progId: 8 },
  ],
  unmatched: { ...zero, txDropNomatch: 2, rxDropSpoof: 5 },
};
const status: HostStatus = {
  fans: [
    fan,
    {
      ...fan,
      bridge: 'fan-251',
      overlay: '251.0.0.0/8',
      slice: '251.3.4.0/24',
      dhcp: { enabled: true },
      attached: [],
      counters: zero,
    },
  ],
  tunnel,
  nftTable: true,
  forwardRules: ['fan-250 (from fan-vxlan)', 'fan-251 (from fan-vxlan)'],
};
const pool = makePool({ label: 'fan 250', slice: parseCidr('250.3.4.0/24'), hostReserve: 1 });

function value(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

describe('metricSamples', () => {
  const samples = metricSamples({
    status,
    ipam: [{ bridge: 'fan-250', pool, leased: ['250.3.4.2', '250.3.4.3', '250.3.4.1', '250.9.9.9'].map(parseIpv4) }],
    dhcp: [{ bridge: 'fan-251', rangeAddresses: 252, leases: 4 }],
    nft: [{ rule: 'egress NAT to the underlay address', packets: 7, bytes: 700 }],
  });

  it('maps the eBPF counters per fan, drops by reason', () => {
    assert.equal(value(samples, METRICS.txPackets.name, { fan: 'fan-250' }), 12);
    assert.equal(value(samples, METRICS.txBytes.name, { fan: 'fan-250' }), 1200);
    assert.equal(value(samples, METRICS.rxPackets.name, { fan: 'fan-250' }), 10);
    assert.equal(value(samples, METRICS.dropped.name, { fan: 'fan-250', reason: 'local_destination' }), 1);
    assert.equal(value(samples, METRICS.dropped.name, { fan: 'fan-250', reason: 'spoofed_source' }), 3);
    assert.equal(value(samples, METRICS.tunnelDropped.name, { reason: 'no_overlay' }), 2);
    assert.equal(value(samples, METRICS.tunnelDropped.name, { reason: 'unknown_vni' }), 5);
  });

  it('reports fan_up, containers, info, DHCP, nft and iptables', () => {
    assert.equal(value(samples, METRICS.up.name, { fan: 'fan-250' }), 1);
    assert.equal(value(samples, METRICS.containers.name, { fan: 'fan-250' }), 2);
    assert.equal(value(samples, METRICS.containers.name, { fan: 'fan-251' }), 0);
    assert.equal(
      value(samples, METRICS.info.name, {
        fan: 'fan-250',
        overlay: '250.0.0.0/8',
        slice: '250.3.4.0/24',
        type: 'vxlan',
        source: '/etc/network/fan',
      }),
      1,
    );
    assert.equal(value(samples, METRICS.dhcpUp.name, { fan: 'fan-251' }), 0, 'dhcp fan without a dnsmasq pid');
    assert.equal(
      value(samples, METRICS.dhcpUp.name, { fan: 'fan-250' }),
      undefined,
      'no DHCP series for a fan without DHCP',
    );
    assert.equal(value(samples, METRICS.dhcpLeases.name, { fan: 'fan-251' }), 4);
    assert.equal(value(samples, METRICS.nftPackets.name, { rule: 'egress NAT to the underlay address' }), 7);
    assert.equal(value(samples, METRICS.nftBytes.name, { rule: 'egress NAT to the underlay address' }), 700);
    assert.equal(value(samples, METRICS.forwardRules.name), 2);
    assert.equal(value(samples, METRICS.tunnelPrograms.name), 2);
  });

  it('counts pool, free and leased addresses (reserved and foreign leases use no pool address)', () => {
    assert.equal(value(samples, METRICS.ipamSize.name, { fan: 'fan-250' }), 253);
    assert.equal(value(samples, METRICS.ipamFree.name, { fan: 'fan-250' }), 251);
    assert.equal(value(samples, METRICS.ipamLeases.name, { fan: 'fan-250' }), 4);
  });

  it('says a vxlan fan is down when the bridge is down or the tunnel lost its programs', () => {
    const down = metricSamples({ status: { ...status, fans: [{ ...fan, bridgeUp: false }] }, ipam: [], dhcp: [] });
    assert.equal(value(down, METRICS.up.name, { fan: 'fan-250' }), 0);
    const detached = metricSamples({ status: { ...status, tunnel: { ...tunnel, programs: [] } }, ipam: [], dhcp: [] });
    assert.equal(value(detached, METRICS.up.name, { fan: 'fan-250' }), 0);
    assert.equal(value(detached, METRICS.tunnelPrograms.name), 0);
    const hostGw = metricSamples({
      status: { fans: [{ ...fan, type: 'host-gw' }], nftTable: false, forwardRules: [] },
      ipam: [],
      dhcp: [],
    });
    assert.equal(value(hostGw, METRICS.up.name, { fan: 'fan-250' }), 1, 'host-gw needs no tunnel');
    assert.equal(value(hostGw, METRICS.tunnelUp.name), 0);
    assert.equal(value(hostGw, METRICS.nftPresent.name), 0);
  });

  it('emits only catalogued metrics, with exactly their labels', () => {
    for (const s of samples) {
      const d = METRIC_LIST.find((m) => m.name === s.name);
      assert.ok(d, s.name);
      assert.deepEqual(Object.keys(s.labels).sort(), [...d.labelNames].sort(), s.name);
    }
  });
});

describe('metricSamples: events and doctor verdicts', () => {
  const base = { status, ipam: [], dhcp: [] };

  it('gives every fan that is up its event series at 0, and counts recorded events and failures', () => {
    const none = metricSamples(base);
    assert.equal(value(none, METRICS.events.name, { fan: 'fan-251', event: 'repair' }), 0);
    assert.equal(value(none, METRICS.commandFailures.name, { command: 'up' }), 0);
    const some = metricSamples({
      ...base,
      events: { version: 1, fans: { 'fan-250': { up: 2, repair: 1 }, 'fan-9': { down: 1 } }, failures: { down: 3 } },
    });
    assert.equal(value(some, METRICS.events.name, { fan: 'fan-250', event: 'up' }), 2);
    assert.equal(value(some, METRICS.events.name, { fan: 'fan-250', event: 'repair' }), 1);
    assert.equal(value(some, METRICS.events.name, { fan: 'fan-9', event: 'down' }), 1, 'a fan taken down keeps its');
    assert.equal(value(some, METRICS.commandFailures.name, { command: 'down' }), 3);
  });

  it('exports the doctor verdicts as a state set, with the failed count and when it ran', () => {
    assert.equal(value(metricSamples(base), METRICS.doctorFailed.name), undefined, 'nothing before the first run');
    const samples = metricSamples({
      ...base,
      doctor: {
        checks: [
          { id: 'ip-forward', verdict: 'fail' },
          { id: 'mtu', verdict: 'ok' },
        ],
        finishedAt: 1_800_000_000,
        durationSeconds: 1.5,
      },
    });
    const forward = samples.filter((s) => s.name === METRICS.doctorCheck.name && s.labels.check === 'ip-forward');
    assert.deepEqual(
      forward.map((s) => [s.labels.verdict, s.value]),
      [
        ['ok', 0],
        ['warn', 0],
        ['fail', 1],
        ['skip', 0],
      ],
    );
    assert.equal(value(samples, METRICS.doctorCheck.name, { check: 'mtu', verdict: 'ok' }), 1);
    assert.equal(value(samples, METRICS.doctorFailed.name), 1);
    assert.equal(value(samples, METRICS.doctorLastRun.name), 1_800_000_000);
    assert.equal(value(samples, METRICS.doctorDuration.name), 1.5);
  });
});

describe('the metric catalogue', () => {
  it('follows the Prometheus naming conventions', () => {
    for (const m of METRIC_LIST) {
      assert.match(m.name, /^fan_[a-z0-9_]+$/);
      assert.equal(
        m.name.endsWith('_total'),
        m.type === 'counter',
        `${m.name}: counters and only counters end in _total`,
      );
      assert.ok(m.help.length > 10, m.name);
    }
    assert.equal(new Set(METRIC_LIST.map((m) => m.name)).size, METRIC_LIST.length);
  });
});

describe('leasedFromPool and countDnsmasqLeases', () => {
  it('counts each pool address once', () => {
    assert.equal(leasedFromPool(pool, ['250.3.4.5', '250.3.4.5', '250.3.4.255'].map(parseIpv4)), 1);
  });
  it('counts lease lines of a dnsmasq lease file', () => {
    const text =
      '1700000000 02:42:ac:11:00:02 250.3.4.100 c1 01:02:42:ac:11:00:02\n' +
      '1700000001 02:42:ac:11:00:03 250.3.4.101 * *\nduid 00:01:00:01\n\n';
    assert.equal(countDnsmasqLeases(text), 2);
    assert.equal(countDnsmasqLeases(''), 0);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FanStatus, HostStatus } from '../../app/host.js';
import { renderShow, renderStatus } from './host.js';

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
  dhcp: { enabled: true, pid: 4242, leaseFile: '/run/fan/fan-250.leases' },
  hostReserve: 1,
  flags: 'dhcp host-reserve 1',
  source: 'cli',
  bridgeUp: true,
  attached: ['veth1', 'veth2'],
  containers: [
    {
      bridge: 'fan-250',
      runtime: 'cni',
      address: '250.3.4.2',
      hostIf: 'veth1',
      ifname: 'eth0',
      pod: { namespace: 'shop', name: 'web-0' },
      problems: [],
    },
  ],
  counters: { ...zero, txPackets: 12, rxPackets: 10, rxDropSpoof: 3 },
};

const status: HostStatus = {
  fans: [
    fan,
    {
      ...fan,
      bridge: 'fan-251',
      overlay: '251.0.0.0/8',
      slice: '251.3.4.0/24',
      bridgeUp: false,
      dhcp: { enabled: true },
      type: 'host-gw',
      attached: [],
      containers: [],
      counters: zero,
    },
  ],
  tunnel: {
    name: 'fan-vxlan',
    mtu: 1450,
    up: true,
    programs: [
      { direction: 'egress', progId: 7 },
      { direction: 'ingress', progId: 8 },
    ],
    unmatched: { ...zero, txDropNomatch: 2 },
  },
  nftTable: true,
  forwardRules: ['fan-250 (from fan-vxlan)'],
};

describe('renderShow', () => {
  it("prints Ubuntu's fixed-width table", () => {
    assert.equal(
      renderShow(status).split('\n')[1],
      'fan-250          172.16.3.4/16        250.0.0.0/8          dhcp host-reserve 1',
    );
  });
});

describe('renderStatus', () => {
  const text = renderStatus(status);
  it('shows per fan the slice, data plane, DHCP, ports and counters, and flags what is wrong', () => {
    assert.match(
      text,
      new RegExp(
        /│ fan-250 +│ 250\.0\.0\.0\/8 → 250\.3\.4\.0\/24 │ 250\.3\.4\.1 +│ /.source +
          /172\.16\.3\.4 \(eth0\) │ vxlan 16384000 │ 1450 │ /.source +
          /pid 4242 +│ 2 +│ 12 +│ 10 +│ spoofed 3 │/.source,
      ),
    );
    const down = /│ fan-251 \(DOWN\) │ .* │ host-gw +│ .* │ /.source;
    assert.match(text, new RegExp(down + /NOT RUNNING │ 0 +│ 0 +│ 0 +│ 0 +│/.source));
  });
  it('lists the containers with address, interfaces, runtime and owner (a Kubernetes pod by namespace/name)', () => {
    assert.match(text, /│ fan-250 +│ 250\.3\.4\.2 +│ veth1 → eth0 +│ cni +│ k8s shop\/web-0 +│ - +│/);
  });
  it('ends with the tunnel and the firewall', () => {
    assert.match(
      text,
      new RegExp(
        /tunnel fan-vxlan: up, mtu 1450, eBPF egress #7, ingress #8, /.source +
          /unmatched drops 2 sent, 0 received \(unknown VNI, not IPv4\)\n/.source,
      ),
    );
    assert.match(text, /nftables table ip fan: loaded; iptables ACCEPT rules: fan-250 \(from fan-vxlan\)\n$/);
  });
  it('says how to start when no fan is up', () => {
    assert.equal(
      renderStatus({ fans: [], nftTable: false, forwardRules: [] }),
      'no fan is up on this host (fanctl up -o OVERLAY -u UNDERLAY)\n',
    );
  });
});

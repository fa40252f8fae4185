/** Every doctor check's judge, on fixtures of what its gather step sees: the good case and each way to break it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cidrOf } from '../../testing/builders.js';
import type { OverlayEntry } from '../../core/model/host-state.js';
import { dnsmasqCheck, parseDhcpListeners } from './dnsmasq.js';
import { duplicateAddressCheck, parseArpingReplies } from './duplicate-address.js';
import { ebpfCheck } from './ebpf.js';
import { forwardCheck } from './forward.js';
import { ipForwardCheck } from './ip-forward.js';
import { kernelCheck } from './kernel.js';
import { mtuCheck, type MtuFan } from './mtu.js';
import { nftCheck, normalizeRuleset } from './nft.js';
import { offloadCheck, parseFeatures } from './offload.js';
import { overlapCheck } from './overlap.js';
import { rpFilterCheck } from './rp-filter.js';
import { stateCheck } from './state.js';
import { vxlanPortCheck } from './vxlan-port.js';

const REUP = 'fanctl up -o 250.0.0.0/8 -u 172.16.0.0/16';

describe('kernel', () => {
  const tools = { ethtool: true, arping: true, ping: true, ss: true };
  it('passes when nothing is missing', () =>
    assert.equal(kernelCheck.judge({ missing: [], doctorTools: tools }).verdict, 'ok'));
  it('fails on a missing kernel piece, naming it', () => {
    const f = kernelCheck.judge({ missing: ['bpftool is not installed: apt-get install bpftool'], doctorTools: tools });
    assert.equal(f.verdict, 'fail');
    assert.match(f.seen, /bpftool/);
  });
  it('warns when only a doctor tool is missing, with its package', () => {
    const f = kernelCheck.judge({ missing: [], doctorTools: { ...tools, arping: false } });
    assert.equal(f.verdict, 'warn');
    assert.match(f.fix ?? '', /iputils-arping/);
  });
});

describe('ip-forward', () => {
  it('passes at 1', () => assert.equal(ipForwardCheck.judge({ fans: 1, value: '1' }).verdict, 'ok'));
  it('fails at 0 with the sysctl to run', () => {
    const f = ipForwardCheck.judge({ fans: 1, value: '0' });
    assert.equal(f.verdict, 'fail');
    assert.match(f.fix ?? '', /sysctl -w net\.ipv4\.ip_forward=1/);
  });
  it('does not apply without fans', () => assert.equal(ipForwardCheck.judge({ fans: 0, value: '0' }).verdict, 'skip'));
});

describe('rp-filter', () => {
  const paths = [
    { dev: 'fan-250', value: 0, sample: '250.3.4.2', routeDev: 'fan-250' },
    { dev: 'fan-vxlan', value: 0, sample: '250.3.5.2', routeDev: 'fan-vxlan' },
  ];
  it('passes when strict but every route back leaves where packets arrive', () =>
    assert.equal(rpFilterCheck.judge({ all: 1, paths }).verdict, 'ok'));
  it('fails when strict and a stray route takes a slice elsewhere', () => {
    const f = rpFilterCheck.judge({
      all: 1,
      paths: [paths[0] as (typeof paths)[0], { ...(paths[1] as (typeof paths)[0]), routeDev: 'eth0' }],
    });
    assert.equal(f.verdict, 'fail');
    assert.match(f.seen, /fan-vxlan.*via eth0/);
  });
  it('uses the larger of all and the device value', () => {
    const f = rpFilterCheck.judge({
      all: 0,
      paths: [{ dev: 'fan-vxlan', value: 1, sample: '250.3.5.2', routeDev: 'eth0' }],
    });
    assert.equal(f.verdict, 'fail');
  });
  it('accepts any route in loose mode', () =>
    assert.equal(
      rpFilterCheck.judge({ all: 2, paths: [{ dev: 'fan-vxlan', value: 0, sample: 'x', routeDev: 'eth0' }] }).verdict,
      'ok',
    ));
});

describe('forward', () => {
  const expected = [{ bridge: 'fan-250', from: 'fan-vxlan' }];
  const base = { iptables: true, chain: 'FORWARD', expected, reup: REUP };
  it('passes with the rules in place under DROP', () =>
    assert.equal(forwardCheck.judge({ ...base, policy: 'DROP', present: expected }).verdict, 'ok'));
  it("fails under DROP without fan's rules", () => {
    const f = forwardCheck.judge({ ...base, policy: 'DROP', present: [] });
    assert.equal(f.verdict, 'fail');
    assert.match(f.seen, /DROP.*fan-250/);
    assert.match(f.fix ?? '', /fanctl up/);
  });
  it('warns under ACCEPT without them', () =>
    assert.equal(forwardCheck.judge({ ...base, policy: 'ACCEPT', present: [] }).verdict, 'warn'));
  it('counts a rule accepting from the wrong device as missing', () => {
    assert.equal(
      forwardCheck.judge({ ...base, policy: 'DROP', present: [{ bridge: 'fan-250', from: 'eth0' }] }).verdict,
      'fail',
    );
  });
});

describe('mtu', () => {
  const fan: MtuFan = {
    bridge: 'fan-250',
    type: 'vxlan',
    underlayDevice: 'eth0',
    underlayMtu: 1500,
    expected: 1450,
    bridgeMtu: 1450,
    routeMtu: 1450,
    ports: [{ hostIf: 'c1', mtu: 1450, peer: { netns: 'ns1', ifname: 'eth0', mtu: 1450 } }],
  };
  it('passes when everything is at underlay − 50', () =>
    assert.equal(mtuCheck.judge({ tunnelMtu: 1450, fans: [fan] }).verdict, 'ok'));
  it('fails on a container at 1500 behind a 1450 tunnel, naming the port', () => {
    const f = mtuCheck.judge({
      tunnelMtu: 1450,
      fans: [{ ...fan, ports: [{ hostIf: 'c1', mtu: 1500, peer: { netns: 'ns1', ifname: 'eth0', mtu: 1500 } }] }],
    });
    assert.equal(f.verdict, 'fail');
    assert.match(f.seen, /c1.*1500.*1450/);
    assert.match(f.fix ?? '', /ip link set dev c1 mtu 1450/);
  });
  it('fails on a container end above the fan MTU even when the host end is right', () => {
    assert.equal(
      mtuCheck.judge({
        tunnelMtu: 1450,
        fans: [{ ...fan, ports: [{ hostIf: 'c1', mtu: 1450, peer: { netns: 'ns1', ifname: 'eth0', mtu: 9000 } }] }],
      }).verdict,
      'fail',
    );
  });
  it('fails on a tunnel above underlay − 50', () =>
    assert.match(mtuCheck.judge({ tunnelMtu: 1500, fans: [fan] }).seen, /fan-vxlan has MTU 1500/));
  it('warns on a smaller bridge MTU', () =>
    assert.equal(mtuCheck.judge({ tunnelMtu: 1450, fans: [{ ...fan, bridgeMtu: 1400 }] }).verdict, 'warn'));
});

describe('vxlan-port', () => {
  const tunnel = [{ bridge: 'fan-250', from: '250.0.11.1', to: '250.0.12.1', ok: true }];
  it('passes when the peer answers through the tunnel', () => {
    assert.equal(
      vxlanPortCheck.judge({
        vxlanFans: 1,
        peers: [{ peer: '172.16.0.12', origin: 'given', underlayOk: true, tunnel }],
      }).verdict,
      'ok',
    );
  });
  it('fails when the underlay answers but the tunnel does not: the UDP port is blocked', () => {
    const f = vxlanPortCheck.judge({
      vxlanFans: 1,
      peers: [
        {
          peer: '172.16.0.12',
          origin: 'given',
          underlayOk: true,
          tunnel: [{ ...(tunnel[0] as (typeof tunnel)[0]), ok: false }],
        },
      ],
    });
    assert.equal(f.verdict, 'fail');
    assert.match(f.seen, /UDP 8472 is blocked/);
  });
  it('only warns for a peer that was merely seen on the underlay', () => {
    assert.equal(
      vxlanPortCheck.judge({
        vxlanFans: 1,
        peers: [
          {
            peer: '172.16.0.1',
            origin: 'seen',
            underlayOk: true,
            tunnel: [{ ...(tunnel[0] as (typeof tunnel)[0]), ok: false }],
          },
        ],
      }).verdict,
      'warn',
    );
  });
  it('fails differently when the peer does not answer at all', () => {
    assert.match(
      vxlanPortCheck.judge({
        vxlanFans: 1,
        peers: [
          {
            peer: '172.16.0.12',
            origin: 'given',
            underlayOk: false,
            tunnel: [{ ...(tunnel[0] as (typeof tunnel)[0]), ok: false }],
          },
        ],
      }).seen,
      /neither/,
    );
  });
  it('skips without peers or vxlan fans', () => {
    assert.equal(vxlanPortCheck.judge({ vxlanFans: 1, peers: [] }).verdict, 'skip');
    assert.equal(vxlanPortCheck.judge({ vxlanFans: 0, peers: [] }).verdict, 'skip');
  });
});

describe('offload', () => {
  const on = parseFeatures(
    'Features for fan-vxlan:\nrx-checksumming: on\ntx-checksumming: on\n\ttx-checksum-ipv4: off [fixed]\n' +
      'scatter-gather: on\ntcp-segmentation-offload: on\ngeneric-segmentation-offload: on\n',
  );
  it('parses ethtool -k, with [fixed]', () => {
    assert.deepEqual(on['tx-checksumming'], { on: true, fixed: false });
    assert.deepEqual(on['tx-checksum-ipv4'], { on: false, fixed: true });
  });
  it('passes at the kernel defaults', () =>
    assert.equal(
      offloadCheck.judge({
        ethtool: true,
        devices: [
          { dev: 'fan-vxlan', role: 'tunnel', features: on },
          { dev: 'eth0', role: 'underlay', features: on },
        ],
      }).verdict,
      'ok',
    ));
  it('fails with tx checksumming off on the tunnel', () => {
    const f = offloadCheck.judge({
      ethtool: true,
      devices: [
        { dev: 'fan-vxlan', role: 'tunnel', features: { ...on, 'tx-checksumming': { on: false, fixed: false } } },
      ],
    });
    assert.equal(f.verdict, 'fail');
    assert.match(f.fix ?? '', /ethtool -K fan-vxlan tx on/);
  });
  it('does not blame a feature the device cannot change', () => {
    assert.equal(
      offloadCheck.judge({
        ethtool: true,
        devices: [
          { dev: 'fan-vxlan', role: 'tunnel', features: { ...on, 'tx-checksumming': { on: false, fixed: true } } },
        ],
      }).verdict,
      'ok',
    );
  });
  it('warns on the underlay', () =>
    assert.equal(
      offloadCheck.judge({
        ethtool: true,
        devices: [
          { dev: 'eth0', role: 'underlay', features: { ...on, 'rx-checksumming': { on: false, fixed: false } } },
        ],
      }).verdict,
      'warn',
    ));
});

describe('overlap', () => {
  const overlays = [cidrOf('250.0.0.0/8')];
  it('passes with only other networks routed', () =>
    assert.equal(
      overlapCheck.judge({
        overlays,
        routes: [
          { dst: cidrOf('172.16.0.0/16'), dev: 'eth0' },
          { dst: cidrOf('0.0.0.0/0'), dev: 'eth0' },
        ],
        addresses: [],
      }).verdict,
      'ok',
    ));
  it('fails on a route inside the overlay', () => {
    const f = overlapCheck.judge({ overlays, routes: [{ dst: cidrOf('250.0.99.0/24'), dev: 'eth0' }], addresses: [] });
    assert.equal(f.verdict, 'fail');
    assert.match(f.fix ?? '', /ip route del 250\.0\.99\.0\/24 dev eth0/);
  });
  it('fails on a route covering the overlay', () =>
    assert.equal(
      overlapCheck.judge({ overlays, routes: [{ dst: cidrOf('240.0.0.0/4'), dev: 'eth1' }], addresses: [] }).verdict,
      'fail',
    ));
  it('fails on a foreign address inside the overlay', () =>
    assert.match(
      overlapCheck.judge({ overlays, routes: [], addresses: [{ dev: 'lo', cidr: cidrOf('250.1.2.3/32') }] }).seen,
      /250\.1\.2\.3\/32 on lo/,
    ));
});

describe('duplicate-address', () => {
  const out =
    'ARPING 172.16.0.11 from 0.0.0.0 eth0\nUnicast reply from 172.16.0.11 [9A:0B:11:22:33:44]  0.610ms\n' +
    'Sent 2 probes (2 broadcast(s))\nReceived 1 response(s)\n';
  it('parses arping replies', () => assert.deepEqual(parseArpingReplies(out), ['9a:0b:11:22:33:44']));
  it('fails when another MAC answers for our address', () => {
    const f = duplicateAddressCheck.judge({
      probes: [{ dev: 'eth0', address: '172.16.0.11', ownMac: '02:00:00:00:00:01', replies: parseArpingReplies(out) }],
    });
    assert.equal(f.verdict, 'fail');
    assert.match(f.seen, /9a:0b:11:22:33:44.*172\.16\.0\.11/);
  });
  it('passes when nobody answers', () =>
    assert.equal(
      duplicateAddressCheck.judge({ probes: [{ dev: 'eth0', address: '172.16.0.11', replies: [] }] }).verdict,
      'ok',
    ));
  it('warns when arping cannot run', () =>
    assert.equal(
      duplicateAddressCheck.judge({ probes: [{ dev: 'eth0', address: 'x', replies: [], error: 'not found' }] }).verdict,
      'warn',
    ));
});

describe('dnsmasq', () => {
  const ss =
    'UNCONN 0      0      0.0.0.0%fan-251:67 0.0.0.0:* users:(("dnsmasq",pid=10992,fd=4))\n' +
    'UNCONN 0      0      0.0.0.0%fan-250:67 0.0.0.0:* users:(("dnsmasq",pid=10911,fd=4))\n';
  it('parses ss', () =>
    assert.deepEqual(parseDhcpListeners(ss), [
      { device: 'fan-251', pid: 10992 },
      { device: 'fan-250', pid: 10911 },
    ]));
  const good = {
    bridge: 'fan-250',
    pid: 10911,
    listeners: [10911],
    slice: '250.0.11.0/24',
    answer: { offered: '250.0.11.98', server: '250.0.11.1' },
  };
  it("passes when fan's dnsmasq listens on its bridge and offers an address of the slice", () =>
    assert.equal(dnsmasqCheck.judge({ fans: [good], reup: REUP }).verdict, 'ok'));
  it('fails when it is not running', () => {
    const f = dnsmasqCheck.judge({
      fans: [{ ...good, pid: undefined, listeners: [], answer: { error: 'no DHCP offer within 2000 ms' } }],
      reup: REUP,
    });
    assert.equal(f.verdict, 'fail');
    assert.match(f.seen, /not running/);
  });
  it('fails when it runs without its socket', () =>
    assert.equal(dnsmasqCheck.judge({ fans: [{ ...good, listeners: [] }], reup: REUP }).verdict, 'fail'));
  it('fails when it does not answer a DISCOVER', () =>
    assert.match(
      dnsmasqCheck.judge({ fans: [{ ...good, answer: { error: 'no DHCP offer within 2000 ms' } }], reup: REUP }).seen,
      /does not answer/,
    ));
  it('fails when the offer is outside the slice (another DHCP server)', () =>
    assert.match(
      dnsmasqCheck.judge({ fans: [{ ...good, answer: { offered: '192.168.1.5', server: '192.168.1.1' } }], reup: REUP })
        .seen,
      /outside the slice/,
    ));
  it('skips fans without DHCP', () => assert.equal(dnsmasqCheck.judge({ fans: [], reup: REUP }).verdict, 'skip'));
});

describe('ebpf', () => {
  const row: OverlayEntry = {
    overlay: 0xfa000000,
    overlayMask: 0xff000000,
    underlay: 0xac100000,
    underlayMask: 0xffff0000,
    shift: 8,
    vni: 16384000,
    local: 0xac10000b,
  };
  const site = {
    dev: 'fan-vxlan',
    directions: ['egress', 'ingress'] as const,
    attached: ['egress', 'ingress'] as const,
    expected: [row],
    table: [row],
  };
  it("passes when both programs are attached and the table is the plan's", () =>
    assert.equal(
      ebpfCheck.judge({
        sites: [{ ...site, directions: [...site.directions], attached: [...site.attached] }],
        reup: REUP,
      }).verdict,
      'ok',
    ));
  it('fails when the egress program is detached', () => {
    const f = ebpfCheck.judge({
      sites: [{ ...site, directions: [...site.directions], attached: ['ingress'] }],
      reup: REUP,
    });
    assert.equal(f.verdict, 'fail');
    assert.match(f.seen, /egress program is not attached to fan-vxlan/);
  });
  it('fails on an empty or different table', () => {
    assert.match(
      ebpfCheck.judge({
        sites: [{ ...site, directions: [...site.directions], attached: [...site.attached], table: [] }],
        reup: REUP,
      }).seen,
      /missing 250\.0\.0\.0/,
    );
    assert.match(
      ebpfCheck.judge({
        sites: [
          { ...site, directions: [...site.directions], attached: [...site.attached], table: [{ ...row, local: 1 }] },
        ],
        reup: REUP,
      }).seen,
      /unexpected/,
    );
  });
});

describe('nft', () => {
  const expected =
    'table ip fan {\n\tcomment "managed by fanctl; key 1"\n\tchain forward {\n' +
    '\t\ttype filter hook forward priority filter; policy accept;\n' +
    '\t\tiifname "fan-250" ip saddr != 250.0.11.0/24 counter drop comment "x"\n\t}\n}\n';
  const live =
    'table ip fan {\n\tcomment "managed by fanctl; key 1"\n\n\tchain forward {\n' +
    '\t\ttype filter hook forward priority filter; policy accept;\n' +
    '\t\tiifname "fan-250" ip saddr != 250.0.11.0/24 counter packets 3 bytes 252 drop comment "x"\n\t}\n}\n';
  it('ignores blank lines and counter values', () =>
    assert.deepEqual(normalizeRuleset(live), normalizeRuleset(expected)));
  it('passes when the live table is what fan renders', () =>
    assert.equal(nftCheck.judge({ expected, live, reup: REUP }).verdict, 'ok'));
  it('fails when the table is missing', () => assert.match(nftCheck.judge({ expected, reup: REUP }).seen, /missing/));
  it('fails on a flushed table whose key is still there', () => {
    const flushed =
      'table ip fan {\n\tcomment "managed by fanctl; key 1"\n\tchain forward {\n' +
      '\t\ttype filter hook forward priority filter; policy accept;\n\t}\n}\n';
    const f = nftCheck.judge({ expected, live: flushed, reup: REUP });
    assert.equal(f.verdict, 'fail');
    assert.match(f.seen, /missing: iifname "fan-250"/);
  });
});

describe('state', () => {
  const base = { stateFile: '/run/fan/fans.json', fans: ['-o 250.0.0.0/8 -u 172.16.0.0/16'], reup: REUP };
  it('passes when nothing is pending', () => assert.equal(stateCheck.judge({ ...base, pending: [] }).verdict, 'ok'));
  it('fails listing what up would do', () => {
    const f = stateCheck.judge({ ...base, pending: ['add route 250.0.0.0/8'] });
    assert.equal(f.verdict, 'fail');
    assert.match(f.seen, /add route 250\.0\.0\.0\/8/);
    assert.equal(f.fix, REUP);
  });
  it('fails when the recorded fans no longer resolve', () =>
    assert.match(
      stateCheck.judge({ ...base, pending: [], resolveError: 'interface eth9 does not exist' }).seen,
      /eth9/,
    ));
});

/**
 * fanctl up/down on real kernel objects, in lab namespaces: connectivity with two overlays, egress NAT, no NAT
 * inside the overlay, the VXLAN wire format, idempotence, complete teardown, and state that does not grow.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { labCheck } from '../../src/lab/check.js';
import { containerAddress, fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { DEFAULT_LAB, type LabTopology } from '../../src/lab/topology.js';
import { formatIpv4 } from '../../src/core/address/ipv4.js';
import { capture, fanObjects, inNs, json, stateCounts } from './helpers.js';
import { ExecRunner } from '../../src/kernel/exec.js';

const NAME = 'fane2e';

describe('a 3-host lab with two overlays', { timeout: 240_000 }, () => {
  let topo: LabTopology;
  before(async () => {
    await labDown(NAME);
    topo = await labUp({
      ...DEFAULT_LAB,
      name: NAME,
      hosts: 3,
      containers: 3,
      overlays: ['250.0.0.0/8', '251.0.0.0/8'],
    });
  });
  after(async () => {
    await labDown(NAME);
  });
  const host = (i: number) => {
    const h = topo.hosts[i];
    assert.ok(h);
    return h;
  };
  const container = (h: number, c: number) => {
    const x = host(h).containers[c];
    assert.ok(x);
    return x;
  };

  it(`connects every container to every other, across hosts, on one host and across overlays, \
and to the outside`, async () => {
    const report = await labCheck(topo);
    assert.equal(
      report.failed,
      0,
      report.results
        .filter((r) => !r.ok)
        .map((r) => `${r.from}→${r.to}`)
        .join(', '),
    );
    assert.ok(report.results.some((r) => r.kind === 'cross-host' && !r.crossOverlay));
    assert.ok(report.results.some((r) => r.kind === 'same-host' && !r.crossOverlay));
    assert.ok(
      report.results.some((r) => r.kind === 'cross-host' && r.crossOverlay),
      'overlays route to each other across hosts too',
    );
    assert.equal(report.results.length, 9 * 8 + 9);
    assert.ok(report.results.filter((r) => r.kind === 'outside').length === 9);
    // Routed through two hosts: the TTL drops by 2 across hosts, as on Ubuntu's routed Fan.
    assert.ok(report.results.filter((r) => r.kind === 'cross-host').every((r) => r.ttl === 62));
  });

  it('masquerades egress to the outside behind the host underlay address', async () => {
    const from = container(0, 0);
    const seen = await capture(topo.outsideNs, 'eth0', 'icmp[icmptype] = icmp-echo', () =>
      inNs(from.ns, ['ping', '-c', '1', '-W', '2', formatIpv4(topo.outside.address)]),
    );
    assert.match(
      seen,
      new RegExp(
        `IP ${formatIpv4(host(0).underlay.address).replace(/\./g, '\\.')} > 203\\.0\\.113\\.1: ICMP echo request`,
      ),
    );
  });

  it('never NATs inside the overlay: the receiver sees the sender container address', async () => {
    const from = container(0, 0);
    const to = container(1, 0);
    const sender = await containerAddress(from);
    const seen = await capture(to.ns, 'eth0', 'icmp[icmptype] = icmp-echo', () =>
      inNs(from.ns, ['ping', '-c', '1', '-W', '2', formatIpv4(to.address)]),
    );
    assert.match(
      seen,
      new RegExp(
        `IP ${sender.replace(/\./g, '\\.')} > ${formatIpv4(to.address).replace(/\./g, '\\.')}: ICMP echo request`,
      ),
    );
  });

  it('puts VXLAN on UDP 8472 on the underlay with VNI = overlay >> 8', async () => {
    for (const [c, vni] of [
      [0, 16384000],
      [1, 16449536],
    ] as const) {
      const from = container(0, c);
      const to = container(2, c);
      const seen = await capture(
        topo.switchNs,
        'br0',
        'udp dst port 8472',
        () => inNs(from.ns, ['ping', '-c', '1', '-W', '2', formatIpv4(to.address)]),
        { extra: ['-T', 'vxlan'] },
      );
      assert.match(
        seen,
        new RegExp(
          `IP ${formatIpv4(host(0).underlay.address).replace(/\./g, '\\.')}\\.\\d+ > ` +
            `${formatIpv4(host(2).underlay.address).replace(/\./g, '\\.')}\\.8472: ` +
            `VXLAN, flags \\[I\\] \\(0x08\\), vni ${vni}`,
        ),
      );
    }
  });

  it('counts what the eBPF programs send, receive and drop, and shows it in show --json', async () => {
    const h1 = host(0);
    const h2 = host(1);
    type Show = {
      fans: {
        overlay: string;
        counters: { txPackets: number; rxPackets: number; txDropLocal: number; rxDropSpoof: number };
      }[];
    };
    const counters = async (h: typeof h1) => {
      const show = JSON.parse((await fanctl(h, ['show', '--json'])).stdout) as Show;
      const fan = show.fans.find((f) => f.overlay === '250.0.0.0/8');
      assert.ok(fan);
      return fan.counters;
    };
    const before1 = await counters(h1);
    const before2 = await counters(h2);
    await inNs(container(0, 0).ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', formatIpv4(container(1, 0).address)]);
    const after1 = await counters(h1);
    const after2 = await counters(h2);
    assert.ok(after1.txPackets >= before1.txPackets + 3, 'h1 encapsulated the requests');
    assert.ok(after2.rxPackets >= before2.rxPackets + 3, 'h2 accepted them');
    // A packet forced into the tunnel for this host's own slice is dropped and counted, never sent.
    await new ExecRunner(h1.ns).run(
      ['ping', '-c', '1', '-W', '1', '-I', 'fan-vxlan', formatIpv4(container(0, 0).address)],
      { allowFailure: true },
    );
    assert.ok((await counters(h1)).txDropLocal > after1.txDropLocal);
  });

  it('drops spoofed sources: on the bridge (nftables) and at the receiving host (eBPF ingress)', async () => {
    const h1 = host(0);
    const h3 = host(2);
    const victim = formatIpv4(container(2, 0).address);
    const foreign = formatIpv4(host(1).containers[0]?.address ?? 0); // an address of h2's slice
    // A container claiming an address of another host's slice never leaves its host.
    const c = container(0, 0);
    await inNs(c.ns, ['ip', 'address', 'add', `${foreign.replace(/\.\d+$/, '.199')}/32`, 'dev', 'eth0']);
    const fromContainer = await new ExecRunner(c.ns).run(
      ['ping', '-c', '1', '-W', '1', '-I', foreign.replace(/\.\d+$/, '.199'), victim],
      { allowFailure: true },
    );
    assert.notEqual(fromContainer.exitCode, 0);
    // A lab container's port is bound to its address, so the bridge table drops the packet first; an unbound port
    // would meet the forward chain's slice check.
    const bound = await inNs(h1.ns, ['nft', 'list', 'table', 'bridge', 'fan-bind']);
    const forward = await inNs(h1.ns, ['nft', 'list', 'chain', 'ip', 'fan', 'forward']);
    assert.ok(
      /counter packets [1-9]\d* bytes \d+ drop comment "fan: source address not given to this port"/.test(bound) ||
        /ip saddr != 250\.0\.11\.0\/24 counter packets [1-9]/.test(forward),
      `the spoofed packets are counted where they were dropped:\n${bound}\n${forward}`,
    );
    // A host sending with a source of another host's slice is dropped by the receiver's ingress program.
    const spoofBefore = JSON.parse((await fanctl(h3, ['show', '--json'])).stdout) as {
      fans: { counters: { rxDropSpoof: number } }[];
    };
    await inNs(h1.ns, ['ip', 'address', 'add', `${foreign.replace(/\.\d+$/, '.198')}/32`, 'dev', 'lo']);
    const fromHost = await new ExecRunner(h1.ns).run(
      ['ping', '-c', '2', '-i', '0.2', '-W', '1', '-I', foreign.replace(/\.\d+$/, '.198'), victim],
      { allowFailure: true },
    );
    assert.notEqual(fromHost.exitCode, 0);
    const spoofAfter = JSON.parse((await fanctl(h3, ['show', '--json'])).stdout) as {
      fans: { counters: { rxDropSpoof: number } }[];
    };
    assert.ok((spoofAfter.fans[0]?.counters.rxDropSpoof ?? 0) >= (spoofBefore.fans[0]?.counters.rxDropSpoof ?? 0) + 2);
    await inNs(h1.ns, ['ip', 'address', 'del', `${foreign.replace(/\.\d+$/, '.198')}/32`, 'dev', 'lo']);
    await inNs(c.ns, ['ip', 'address', 'del', `${foreign.replace(/\.\d+$/, '.199')}/32`, 'dev', 'eth0']);
  });

  it('changes nothing on a second up', async () => {
    const out = await fanctl(host(0), ['up', '-o', '250.0.0.0/8', '-u', '172.16.0.0/16']);
    assert.match(out.stdout, /no changes/);
  });

  it('keeps the same kernel state after sending to hundreds of distinct overlay destinations', async () => {
    const h = host(0);
    const beforeCounts = await stateCounts(h.ns);
    // 240 destinations in the slices of the two other hosts (mostly absent containers).
    const targets: string[] = [];
    for (const peer of [host(1), host(2)]) {
      const base = peer.containers[0]?.address ?? 0;
      for (let i = 10; i < 130; i++) targets.push(formatIpv4((base & 0xffffff00) + i));
    }
    const script = targets.map((t) => `ping -c 1 -W 0.05 ${t} >/dev/null 2>&1`).join('; ');
    await inNs(h.ns, ['sh', '-c', `${script}; true`]);
    const afterCounts = await stateCounts(h.ns);
    // Routes, the tunnel's neighbour entries and fdb entries are exactly as before; the neighbour table as a
    // whole may only lose entries (garbage collection), never gain one per destination.
    assert.deepEqual({ ...afterCounts, neighbours: 0 }, { ...beforeCounts, neighbours: 0 });
    assert.ok(
      afterCounts.neighbours <= beforeCounts.neighbours,
      `neighbours ${beforeCounts.neighbours} → ${afterCounts.neighbours}`,
    );
    assert.equal(afterCounts.tunnelNeighbours, 1, 'one NOARP neighbour entry (the on-link gateway) on the tunnel');
  });

  it('refuses down while containers are attached, and down --force leaves no fan-created object', async () => {
    const h = host(2);
    const refused = await fanctl(h, ['down', '-o', '250.0.0.0/8'], { allowFailure: true });
    assert.equal(refused.exitCode, 4);
    assert.match(refused.stderr, /containers are still attached/);
    await fanctl(h, ['down', '-e', '--force']);
    assert.deepEqual(await fanObjects(h.ns), { links: [], routes: 0, nft: false, dnsmasq: 0, forwardRules: 0 });
    const tc = await inNs(h.ns, ['tc', 'qdisc', 'show']);
    assert.doesNotMatch(tc, /clsact/);
  });
});

describe('kernel state does not depend on the underlay size', { timeout: 120_000 }, () => {
  const labs = [
    { name: 'fane2eu24', underlay: '10.1.2.0/24' },
    { name: 'fane2eu20', underlay: '10.16.0.0/20' },
    { name: 'fane2eu16', underlay: '10.200.0.0/16' },
  ];
  after(async () => {
    for (const l of labs) await labDown(l.name);
  });
  it('has the same routes, neighbours and fdb entries for a /24, a /20 and a /16 underlay', async () => {
    const counts: Awaited<ReturnType<typeof stateCounts>>[] = [];
    for (const l of labs) {
      await labDown(l.name);
      const topo = await labUp({ ...DEFAULT_LAB, name: l.name, hosts: 2, containers: 1, underlay: l.underlay });
      const report = await labCheck(topo);
      assert.equal(report.failed, 0);
      const h = topo.hosts[0];
      assert.ok(h);
      counts.push(await stateCounts(h.ns));
      await labDown(l.name);
    }
    // What fan installs (routes, the tunnel's neighbour entries, fdb) is identical. The host's whole IPv4
    // neighbour table only reflects which hosts the pings reached (and ARP timing): at most 5 entries here.
    const fanState = (c: (typeof counts)[number] | undefined) => ({ ...c, neighbours: 0 });
    assert.deepEqual(fanState(counts[1]), fanState(counts[0]));
    assert.deepEqual(fanState(counts[2]), fanState(counts[0]));
    assert.ok(
      counts.every((c) => c.neighbours <= 5),
      JSON.stringify(counts),
    );
  });
});

describe('host-gw: no encapsulation, hosts on one L2 segment', { timeout: 120_000 }, () => {
  const NAME = 'fane2ehg';
  let topo: LabTopology;
  before(async () => {
    await labDown(NAME);
    topo = await labUp({ ...DEFAULT_LAB, name: NAME, hosts: 3, containers: 2, type: 'host-gw' });
  });
  after(async () => {
    await labDown(NAME);
  });

  it('connects every container, routed through both hosts, at the full underlay MTU', async () => {
    const report = await labCheck(topo);
    assert.equal(report.failed, 0);
    assert.ok(report.results.filter((r) => r.kind === 'cross-host').every((r) => r.ttl === 62));
    const c = topo.hosts[0]?.containers[0];
    assert.ok(c);
    assert.equal(c.mtu, 1500);
  });

  it('sends plain IP between overlay addresses on the underlay, to the MAC of the computed host', async () => {
    const [h1, h2] = topo.hosts;
    const from = h1?.containers[0];
    const to = h2?.containers[0];
    assert.ok(h1 && h2 && from && to);
    const h2Mac = (await json<{ address: string }[]>(h2.ns, ['ip', '-json', 'link', 'show', 'eth0']))[0]?.address;
    const seen = await capture(
      topo.switchNs,
      'br0',
      'icmp[icmptype] = icmp-echo',
      () => inNs(from.ns, ['ping', '-c', '1', '-W', '2', formatIpv4(to.address)]),
      { extra: ['-e'] },
    );
    assert.match(
      seen,
      new RegExp(
        `> ${h2Mac}, ethertype IPv4 .* ${formatIpv4(from.address).replace(/\./g, '\\.')} > ` +
          `${formatIpv4(to.address).replace(/\./g, '\\.')}: ICMP echo request`,
      ),
    );
  });

  it('keeps one placeholder neighbour and one route per overlay, and down removes its program and qdisc', async () => {
    const h = topo.hosts[2];
    assert.ok(h);
    const neigh = await json<{ dst: string }[]>(h.ns, ['ip', '-json', 'neigh', 'show', '169.254.250.1', 'nud', 'all']);
    assert.equal(neigh.length, 1);
    await fanctl(h, ['down', '-e', '--force']);
    assert.deepEqual(await fanObjects(h.ns), { links: [], routes: 0, nft: false, dnsmasq: 0, forwardRules: 0 });
    assert.doesNotMatch(await inNs(h.ns, ['tc', 'qdisc', 'show', 'dev', 'eth0']), /clsact/);
    assert.equal(
      (await json<unknown[]>(h.ns, ['ip', '-json', 'neigh', 'show', '169.254.250.1', 'nud', 'all'])).length,
      0,
    );
  });
});

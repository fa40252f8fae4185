/**
 * The vxlan-fast data plane on a 3-host lab (prefix `fnfp`): traffic across hosts takes the eBPF fast path (the
 * kernel tunnel's counters stay still), a plain vxlan host interoperates with fast-path hosts both ways, the
 * kernel path still carries traffic while a policy is loaded (the fast path is off then) with the policy's
 * verdicts, and a VXLAN packet with a spoofed inner source is dropped. Needs iperf3 (bulk TCP: GSO packets).
 * labDown removes everything, also on failure.
 */
import assert from 'node:assert/strict';
import { bridgedUp, iperfBytes, okServer as server, pingOk, tcpOk as tcp } from './helpers.js';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { formatCidr, formatIpv4, network } from '../../src/core/address/ipv4.js';
import { ExecRunner } from '../../src/kernel/exec.js';
import { fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { DEFAULT_LAB, type LabContainer, type LabHost, type LabTopology } from '../../src/lab/topology.js';

const NAME = 'fnfp';

interface Counters {
  txPackets: number;
  rxPackets: number;
  rxDropSpoof: number;
}

async function counters(host: LabHost): Promise<Counters> {
  const out = await fanctl(host, ['show', '--json']);
  const fan = (JSON.parse(out.stdout) as { fans: { counters: Counters }[] }).fans[0];
  return fan?.counters ?? assert.fail(`no fan on ${host.name}`);
}

/** Packets (or bytes) the kernel tunnel device sent or received: the kernel path's share. */
async function tunnelTx(
  host: LabHost,
  dir: 'tx' | 'rx' = 'tx',
  what: 'packets' | 'bytes' = 'packets',
): Promise<number> {
  const out = await new ExecRunner(host.ns).run(['ip', '-j', '-s', 'link', 'show', 'fan-vxlan']);
  type Stats = { stats64: Record<'tx' | 'rx', Record<'packets' | 'bytes', number>> };
  return (JSON.parse(out.stdout) as Stats[])[0]?.stats64[dir][what] ?? NaN;
}

/**
 * Sends one VXLAN datagram from `from` to `to`'s underlay address: an ICMP echo with inner source `src` to `dst`,
 * on the VNI of 250.0.0.0/8, from a Node.js process in `from`'s namespace.
 */
async function sendVxlan(from: LabHost, to: LabHost, src: string, dst: string): Promise<void> {
  const script = `
const dgram = require('node:dgram');
const ip4 = (a) => Buffer.from(a.split('.').map(Number));
const csum = (b) => { let s = 0; for (let i = 0; i < b.length; i += 2) s += b.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16); return ~s & 0xffff; };
const icmp = Buffer.concat([Buffer.from([8, 0, 0, 0, 0x42, 0x42, 0, 1]), Buffer.from('fnfp-spoof-test!')]);
icmp.writeUInt16BE(csum(icmp), 2);
const ip = Buffer.alloc(20);
ip.writeUInt8(0x45, 0); ip.writeUInt16BE(20 + icmp.length, 2); ip.writeUInt16BE(1, 4); ip.writeUInt8(64, 8);
ip.writeUInt8(1, 9); ip4('${src}').copy(ip, 12); ip4('${dst}').copy(ip, 16); ip.writeUInt16BE(csum(ip), 10);
const eth = Buffer.concat([Buffer.from('0efa000000010efa', 'hex'), ip4('${formatIpv4(from.underlay.address)}'),
  Buffer.from([8, 0])]);
const vxlan = Buffer.alloc(8); vxlan.writeUInt32BE(0x08000000, 0); vxlan.writeUInt32BE(0xfa0000 << 8 >>> 0, 4);
const s = dgram.createSocket('udp4');
s.send(Buffer.concat([vxlan, eth, ip, icmp]), 8472, '${formatIpv4(to.underlay.address)}', \
(e) => { s.close(); if (e) throw e; });
`;
  await new ExecRunner(from.ns).run([process.execPath, '-e', script], { timeoutMs: 10_000 });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(100);
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('vxlan-fast on a 3-host lab', { timeout: 600_000 }, () => {
  let topo: LabTopology;
  const servers: ChildProcessWithoutNullStreams[] = [];
  const host = (i: number): LabHost => topo.hosts[i] ?? assert.fail(`no host ${i}`);
  const ctr = (h: number, c: number): LabContainer => host(h).containers[c] ?? assert.fail(`no container ${h}/${c}`);
  const addr = (h: number, c: number): string => formatIpv4(ctr(h, c).address);

  before(async () => {
    await labDown(NAME);
    topo = await labUp({ ...DEFAULT_LAB, name: NAME, hosts: 3, containers: 2, type: 'vxlan-fast' });
    for (const h of topo.hosts) {
      for (const c of h.containers) {
        for (const port of [5432, 5433]) servers.push(server(c.ns, port));
      }
    }
    await sleep(300);
  });

  after(async () => {
    for (const s of servers) if (s.pid !== undefined) s.kill('SIGKILL');
    await labDown(NAME);
  });

  it('carries ping and TCP across hosts on the fast path: the kernel tunnel sends nothing', async () => {
    // The first packet may wait for ARP on the underlay; then every packet of the flow is the fast path's.
    assert.ok(await pingOk(ctr(0, 0).ns, addr(1, 0)), 'h1-c1 → h2-c1 ping');
    const [tunnel1, tunnel2, before1, before2] = await Promise.all([
      tunnelTx(host(0)),
      tunnelTx(host(1)),
      counters(host(0)),
      counters(host(1)),
    ]);
    assert.ok(await pingOk(ctr(0, 0).ns, addr(1, 0), 5), 'h1-c1 → h2-c1 ping ×5');
    assert.ok(await tcp(ctr(0, 0).ns, addr(1, 0), 5432), 'h1-c1 → h2-c1 TCP');
    assert.ok(await tcp(ctr(1, 1).ns, addr(0, 1), 5433), 'h2-c2 → h1-c2 TCP');
    const [after1, after2] = [await counters(host(0)), await counters(host(1))];
    assert.equal(await tunnelTx(host(0)), tunnel1, 'h1 sent nothing through fan-vxlan');
    assert.equal(await tunnelTx(host(1)), tunnel2, 'h2 sent nothing through fan-vxlan');
    assert.ok(after1.txPackets - before1.txPackets >= 5 + 3, `h1 tx ${before1.txPackets} → ${after1.txPackets}`);
    assert.ok(after2.rxPackets - before2.rxPackets >= 5 + 3, `h2 rx ${before2.rxPackets} → ${after2.rxPackets}`);
  });

  it('carries bulk TCP (GSO packets) on the fast path, from the port, delivered straight into the container', async () => {
    const [tunnel1, tunnel2, before2] = [await tunnelTx(host(0)), await tunnelTx(host(1)), await counters(host(1))];
    const tunnelRx2 = await tunnelTx(host(1), 'rx', 'bytes');
    const bridged = await bridgedUp(host(0).ns, ctr(0, 0).bridge);
    const bytes = await iperfBytes(ctr(1, 0).ns, ctr(0, 0).ns, addr(1, 0), 5391);
    assert.ok(bytes > 10_000_000, `iperf3 moved ${bytes} bytes in one second`);
    const up = (await bridgedUp(host(0).ns, ctr(0, 0).bridge)) - bridged;
    assert.ok(up < 50, `h1's bridge passed ${up} of the sender's frames up to the host`);
    assert.equal(await tunnelTx(host(0)), tunnel1, 'h1 sent nothing through fan-vxlan');
    assert.equal(await tunnelTx(host(1)), tunnel2, 'h2 sent nothing through fan-vxlan');
    // A few hundred MTU-sized packets of a run still arrive through fan-vxlan (see docs/fast-path.md): the bulk
    // must not.
    const viaKernel = (await tunnelTx(host(1), 'rx', 'bytes')) - tunnelRx2;
    assert.ok(viaKernel < bytes / 4, `h2 received ${viaKernel} of ${bytes} bytes through fan-vxlan`);
    // Far fewer packets than 1448-byte segments: GSO packets crossed whole, and h2 decapsulated them in eBPF.
    const rx = (await counters(host(1))).rxPackets - before2.rxPackets;
    assert.ok(rx > 0 && rx < bytes / 1448 / 2, `h2 decapsulated ${rx} packets for ${bytes} bytes`);
  });

  it('drops a VXLAN packet whose inner source does not map to the sending host, accepts a true one', async () => {
    const before1 = await counters(host(0));
    // h2 claims to send for a container of h3: the Fan source rule rejects it.
    await sendVxlan(host(1), host(0), addr(2, 0), addr(0, 0));
    await until('the spoof drop counter', async () => (await counters(host(0))).rxDropSpoof > before1.rxDropSpoof);
    const mid = await counters(host(0));
    assert.equal(mid.rxPackets, before1.rxPackets, 'the spoofed packet was not accepted');
    await sendVxlan(host(1), host(0), addr(1, 0), addr(0, 0));
    await until('the accepted packet', async () => (await counters(host(0))).rxPackets > mid.rxPackets);
    assert.equal((await counters(host(0))).rxDropSpoof, mid.rxDropSpoof);
  });

  it('a plain vxlan host interoperates with fast-path hosts, both ways', async () => {
    const h3 = host(2);
    const underlay = formatCidr(network(h3.underlay));
    await fanctl(h3, ['up', '-o', '250.0.0.0/8', '-u', underlay, '--type', 'vxlan']);
    const shown = JSON.parse((await fanctl(h3, ['show', '--json'])).stdout) as { fans: { type: string }[] };
    assert.equal(shown.fans[0]?.type, 'vxlan');
    const programs = await new ExecRunner(h3.ns).run(['tc', 'filter', 'show', 'dev', 'eth0', 'ingress']);
    assert.doesNotMatch(programs.stdout, /fp_rx/, 'h3 has no fast path any more');
    const before1 = await counters(host(0));
    const tunnel3 = await tunnelTx(h3);
    assert.ok(await pingOk(ctr(0, 0).ns, addr(2, 0), 3), 'fast h1 → vxlan h3 ping');
    assert.ok(await tcp(ctr(2, 0).ns, addr(0, 0), 5432), 'vxlan h3 → fast h1 TCP');
    assert.ok(await tcp(ctr(0, 1).ns, addr(2, 1), 5433), 'fast h1 → vxlan h3 TCP');
    const after1 = await counters(host(0));
    assert.ok((await tunnelTx(h3)) > tunnel3, 'h3 sent through its kernel tunnel');
    assert.ok(after1.rxPackets - before1.rxPackets >= 3, 'h1 decapsulated h3’s kernel-made frames in eBPF');
    assert.ok(after1.txPackets - before1.txPackets >= 3, 'h3’s kernel tunnel accepted h1’s eBPF-made frames');
    await fanctl(h3, ['up', '-o', '250.0.0.0/8', '-u', underlay, '--type', 'vxlan-fast']);
  });

  it(`with a policy loaded the fast path is off, the kernel path carries traffic with the policy’s \
verdicts`, async () => {
    // Containers' first address is slice+2, the second slice+3: groups by index.
    const policy = `default: isolate
groups:
  a: { index: 2-2 }
  b: { index: 3-3 }
allow:
  - { from: a, to: b, ports: [tcp/5432] }
`;
    const file = `${topo.stateDir}/fnfp-policy.yaml`;
    await writeFile(file, policy);
    for (const h of topo.hosts) await fanctl(h, ['policy', 'apply', file]);
    try {
      const before1 = await counters(host(0));
      const tunnel1 = await tunnelTx(host(0));
      assert.ok(await tcp(ctr(0, 0).ns, addr(1, 1), 5432), 'a → b tcp/5432 is allowed');
      assert.equal(await tcp(ctr(0, 0).ns, addr(1, 1), 5433), false, 'a → b tcp/5433 is not');
      assert.equal(await pingOk(ctr(1, 1).ns, addr(0, 0)), false, 'b → a is not');
      assert.equal(await tcp(ctr(1, 1).ns, addr(0, 0), 5432), false, 'b → a tcp is not');
      assert.ok((await tunnelTx(host(0))) > tunnel1, 'the allowed connection went through fan-vxlan');
      assert.equal((await counters(host(0))).txPackets > before1.txPackets, true, 'the kernel path counts too');
      const fast = await new ExecRunner(host(0).ns).run(['bpftool', '-j', 'map', 'show']);
      assert.match(fast.stdout, /fan_fp_ctl/);
    } finally {
      for (const h of topo.hosts) await fanctl(h, ['policy', 'remove']);
    }
    // Policy gone: the fast path is back on.
    assert.ok(await pingOk(ctr(0, 0).ns, addr(1, 1)));
    const tunnel1 = await tunnelTx(host(0));
    assert.ok(await tcp(ctr(0, 0).ns, addr(1, 1), 5433), 'a → b tcp/5433 without a policy');
    assert.equal(await tunnelTx(host(0)), tunnel1, 'back on the fast path');
  });
});

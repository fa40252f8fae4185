/**
 * The host-gw-fast data plane on a 3-host lab (prefix `fnfg`): traffic across hosts takes the eBPF fast path (the
 * hosts' IP forwarding counts none of it), bulk TCP (GSO packets) crosses it, a plain host-gw host interoperates
 * with fast-path hosts both ways, and with a policy loaded the kernel path carries traffic with the policy's
 * verdicts. Needs iperf3. labDown removes everything, also on failure.
 */
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { formatCidr, formatIpv4, network } from '../../src/core/address/ipv4.js';
import { ExecRunner } from '../../src/kernel/exec.js';
import { fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { DEFAULT_LAB, type LabContainer, type LabHost, type LabTopology } from '../../src/lab/topology.js';
import { bridgedUp, iperfBytes, okServer as server, pingOk, tcpOk as tcp } from './helpers.js';

const NAME = 'fnfg';

/** Packets the host's IP stack forwarded (Ip: ForwDatagrams): the kernel path's share; the fast path adds none. */
async function forwarded(host: LabHost): Promise<number> {
  const snmp = (await new ExecRunner(host.ns).run(['cat', '/proc/net/snmp'])).stdout.split('\n');
  const [names, values] = snmp.filter((l) => l.startsWith('Ip:'));
  const i = names?.split(/\s+/).indexOf('ForwDatagrams') ?? -1;
  const n = Number(values?.split(/\s+/)[i]);
  return i > 0 && Number.isFinite(n) ? n : assert.fail(`no Ip ForwDatagrams in ${host.ns}`);
}

describe('host-gw-fast on a 3-host lab', { timeout: 600_000 }, () => {
  let topo: LabTopology;
  const servers: ChildProcessWithoutNullStreams[] = [];
  const host = (i: number): LabHost => topo.hosts[i] ?? assert.fail(`no host ${i}`);
  const ctr = (h: number, c: number): LabContainer => host(h).containers[c] ?? assert.fail(`no container ${h}/${c}`);
  const addr = (h: number, c: number): string => formatIpv4(ctr(h, c).address);

  before(async () => {
    await labDown(NAME);
    topo = await labUp({ ...DEFAULT_LAB, name: NAME, hosts: 3, containers: 2, type: 'host-gw-fast' });
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

  it('carries ping and TCP across hosts without the hosts forwarding a packet', async () => {
    // The first packet may wait for ARP on the underlay; then every packet of the flow is the fast path's.
    assert.ok(await pingOk(ctr(0, 0).ns, addr(1, 0)), 'h1-c1 → h2-c1 ping');
    const [f1, f2] = [await forwarded(host(0)), await forwarded(host(1))];
    assert.ok(await pingOk(ctr(0, 0).ns, addr(1, 0), 5), 'h1-c1 → h2-c1 ping ×5');
    assert.ok(await tcp(ctr(0, 0).ns, addr(1, 0), 5432), 'h1-c1 → h2-c1 TCP');
    assert.ok(await tcp(ctr(1, 1).ns, addr(0, 1), 5433), 'h2-c2 → h1-c2 TCP');
    assert.equal(await forwarded(host(0)), f1, 'h1 forwarded nothing');
    assert.equal(await forwarded(host(1)), f2, 'h2 forwarded nothing');
    const shown = JSON.parse((await fanctl(host(0), ['show', '--json'])).stdout) as {
      fans: { type: string; counters: { txPackets: number; rxPackets: number } }[];
    };
    assert.equal(shown.fans[0]?.type, 'host-gw-fast');
    assert.ok((shown.fans[0]?.counters.txPackets ?? 0) >= 6, 'the fast path counts what it sent');
    assert.ok((shown.fans[0]?.counters.rxPackets ?? 0) >= 6, 'and what it delivered');
  });

  it("carries bulk TCP (GSO packets) on the fast path, taken on the container's port before the bridge", async () => {
    const [f1, f2] = [await forwarded(host(0)), await forwarded(host(1))];
    const bridged = await bridgedUp(host(0).ns, ctr(0, 0).bridge);
    const bytes = await iperfBytes(ctr(1, 0).ns, ctr(0, 0).ns, addr(1, 0), 5392);
    assert.ok(bytes > 10_000_000, `iperf3 moved ${bytes} bytes in one second`);
    const up = (await bridgedUp(host(0).ns, ctr(0, 0).bridge)) - bridged;
    assert.ok(up < 50, `h1's bridge passed ${up} of the sender's frames up to the host`);
    // The control connection's first packets may race the neighbour entry: the bulk must not take the kernel.
    const kernel = (await forwarded(host(0))) - f1 + ((await forwarded(host(1))) - f2);
    assert.ok(kernel < 50, `the hosts forwarded ${kernel} packets of ${bytes} bytes`);
  });

  it('a plain host-gw host interoperates with fast-path hosts, both ways', async () => {
    const h3 = host(2);
    const underlay = formatCidr(network(h3.underlay));
    await fanctl(h3, ['up', '-o', '250.0.0.0/8', '-u', underlay, '--type', 'host-gw']);
    try {
      const programs = await new ExecRunner(h3.ns).run(['tc', 'filter', 'show', 'dev', 'eth0', 'ingress']);
      assert.doesNotMatch(programs.stdout, /fp_gw_rx/, 'h3 has no fast path any more');
      const [f1, f3] = [await forwarded(host(0)), await forwarded(h3)];
      assert.ok(await pingOk(ctr(0, 0).ns, addr(2, 0), 3), 'fast h1 → host-gw h3 ping');
      assert.ok(await tcp(ctr(2, 0).ns, addr(0, 0), 5432), 'host-gw h3 → fast h1 TCP');
      assert.ok(await tcp(ctr(0, 1).ns, addr(2, 1), 5433), 'fast h1 → host-gw h3 TCP');
      assert.ok((await forwarded(h3)) >= f3 + 6, 'h3 forwarded in its kernel');
      assert.equal(await forwarded(host(0)), f1, 'h1 still forwarded nothing');
    } finally {
      await fanctl(h3, ['up', '-o', '250.0.0.0/8', '-u', underlay, '--type', 'host-gw-fast']);
    }
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
    const file = `${topo.stateDir}/fnfg-policy.yaml`;
    await writeFile(file, policy);
    for (const h of topo.hosts) await fanctl(h, ['policy', 'apply', file]);
    try {
      const f1 = await forwarded(host(0));
      assert.ok(await tcp(ctr(0, 0).ns, addr(1, 1), 5432), 'a → b tcp/5432 is allowed');
      assert.equal(await tcp(ctr(0, 0).ns, addr(1, 1), 5433), false, 'a → b tcp/5433 is not');
      assert.equal(await pingOk(ctr(1, 1).ns, addr(0, 0)), false, 'b → a is not');
      assert.equal(await tcp(ctr(1, 1).ns, addr(0, 0), 5432), false, 'b → a tcp is not');
      assert.ok((await forwarded(host(0))) > f1, 'the allowed connection was forwarded by the kernel');
    } finally {
      for (const h of topo.hosts) await fanctl(h, ['policy', 'remove']);
    }
    // Policy gone: the fast path is back on.
    assert.ok(await pingOk(ctr(0, 0).ns, addr(1, 1)));
    const f1 = await forwarded(host(0));
    assert.ok(await tcp(ctr(0, 0).ns, addr(1, 1), 5433), 'a → b tcp/5433 without a policy');
    assert.equal(await forwarded(host(0)), f1, 'back on the fast path');
  });
});

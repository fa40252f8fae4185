/**
 * fanctl trace on a real 2-host lab with two overlays: the computed path for same-host, cross-host (also across
 * overlays), outside and absent-host destinations, and what --probe observes for each (a real ping from the source
 * container's namespace, found through its veth): they must agree. A blocked VXLAN port must make them disagree.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { formatIpv4 } from '../../src/core/address/ipv4.js';
import { fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { DEFAULT_LAB, type LabContainer, type LabHost, type LabTopology } from '../../src/lab/topology.js';
import { inNs, root } from './helpers.js';

const NAME = 'fandrt';

interface TraceJson {
  src: string;
  dst: string;
  kind: string;
  crossOverlay: boolean;
  underlayHost?: string;
  outcome: string;
  stop?: { kind: string; at: string; reason: string };
  pathMtu?: number;
  hops: { host: string; at: string; mtu?: number; action: string; policy?: string }[];
  probe?: {
    from: string;
    received: number;
    outcome: string;
    stoppedAt?: string;
    matches: boolean;
    moved: { counter: string; delta: number }[];
  };
}

describe('fanctl trace', { timeout: 600_000 }, () => {
  let topo: LabTopology;
  let h1: LabHost;
  let h2: LabHost;
  const c = (h: LabHost, i: number): LabContainer => h.containers[i] as LabContainer;
  before(async () => {
    await labDown(NAME);
    // Containers: c1 250.x, c2 251.x, c3 250.x (two on the same slice of h1).
    topo = await labUp({
      ...DEFAULT_LAB,
      name: NAME,
      hosts: 2,
      containers: 3,
      overlays: ['250.0.0.0/8', '251.0.0.0/8'],
    });
    h1 = topo.hosts[0] as LabHost;
    h2 = topo.hosts[1] as LabHost;
  });
  after(async () => {
    await labDown(NAME);
  });

  const trace = async (args: string[], expectOk = true): Promise<TraceJson> => {
    const out = await fanctl(h1, ['trace', ...args, '--json'], { allowFailure: true });
    if (expectOk) assert.equal(out.exitCode, 0, out.stderr);
    else assert.notEqual(out.exitCode, 0, 'trace exits non-zero when the probe disagrees');
    return JSON.parse(out.stdout) as TraceJson;
  };
  /** The computed path, then the same with --probe: the path must be the same and the probe must agree with it. */
  const traced = async (src: string, dst: string): Promise<TraceJson> => {
    const computed = await trace([src, dst]);
    const probed = await trace([src, dst, '--probe']);
    const { probe, ...path } = probed;
    assert.deepEqual(path, computed, 'the probe does not change the computed path');
    assert.ok(probe, 'the probe ran');
    assert.equal(probe.matches, true, `probe: ${JSON.stringify(probe)}`);
    return probed;
  };
  const moved = (t: TraceJson, re: RegExp): boolean => (t.probe?.moved ?? []).some((m) => re.test(m.counter));
  const ip = (x: LabContainer) => formatIpv4(x.address);

  it('same host, same slice: bridged, no tunnel counter moves, the ping answers', async () => {
    const t = await traced(ip(c(h1, 0)), ip(c(h1, 2)));
    assert.equal(t.kind, 'same-host');
    assert.equal(t.outcome, 'delivered');
    assert.equal(t.pathMtu, 1450);
    assert.match(t.hops[0]?.at ?? '', new RegExp(`in ${c(h1, 0).ns}, host end ${c(h1, 0).hostIf}`));
    assert.equal(t.probe?.from, `container namespace ${c(h1, 0).ns}`);
    assert.equal(t.probe?.outcome, 'delivered');
    assert.ok(!moved(t, /txPackets/), 'nothing entered the tunnel');
  });

  it('same host, across overlays: routed between the two bridges', async () => {
    const t = await traced(ip(c(h1, 0)), ip(c(h1, 1)));
    assert.equal(t.kind, 'same-host');
    assert.equal(t.crossOverlay, true);
    assert.ok(t.hops.some((h) => h.at === 'bridge fan-251'));
  });

  it('cross host: through the tunnel to the computed underlay host, which answers', async () => {
    const t = await traced(ip(c(h1, 0)), ip(c(h2, 0)));
    assert.equal(t.kind, 'cross-host');
    assert.equal(t.underlayHost, formatIpv4(h2.underlay.address));
    assert.equal(t.outcome, 'delivered');
    assert.ok(
      t.hops.some(
        (h) =>
          h.action === `UDP ${formatIpv4(h1.underlay.address)} → ${formatIpv4(h2.underlay.address)}:8472` &&
          h.mtu === 1500,
      ),
    );
    assert.ok(t.hops.every((h) => h.policy === undefined || h.policy === 'open'));
    assert.ok(
      moved(t, /fan-vxlan overlay 0: txPackets/) && moved(t, /fan-vxlan overlay 0: rxPackets/),
      JSON.stringify(t.probe?.moved),
    );
  });

  it('cross host, across overlays', async () => {
    const t = await traced(ip(c(h1, 0)), ip(c(h2, 1)));
    assert.equal(t.kind, 'cross-host');
    assert.equal(t.crossOverlay, true);
    assert.ok(moved(t, /fan-vxlan overlay 1: txPackets/), 'the 251 row of the eBPF table sent it');
  });

  it('outside: masqueraded on the underlay device; the NAT counter moves', async () => {
    const t = await traced(ip(c(h1, 0)), formatIpv4(topo.outside.address));
    assert.equal(t.kind, 'outside');
    assert.ok(
      t.hops.some(
        (h) => h.action === `nft masquerade: source ${ip(c(h1, 0))} becomes ${formatIpv4(h1.underlay.address)}`,
      ),
    );
    assert.equal(t.probe?.outcome, 'delivered');
    assert.ok(moved(t, /egress NAT/));
  });

  it(`a host that does not exist: dropped at the underlay, no host answers ARP, \
after the eBPF program sent it`, async () => {
    const t = await traced(ip(c(h1, 0)), '250.0.99.7');
    assert.equal(t.outcome, 'dropped');
    assert.deepEqual(t.stop, {
      kind: 'underlay-arp',
      at: 'eth0',
      reason: 'no host answers ARP for 172.16.0.99 on eth0',
    });
    assert.equal(t.probe?.stoppedAt, 'underlay-arp');
    assert.ok(moved(t, /txPackets/));
  });

  it("an address of this host's slice no container has: dropped on the bridge", async () => {
    const t = await traced(ip(c(h1, 0)), '250.0.11.77');
    assert.equal(t.stop?.kind, 'bridge-arp');
    assert.equal(t.probe?.stoppedAt, 'bridge-arp');
  });

  it("from the host's bridge address, the probe is sent by the host itself", async () => {
    const t = await traced('250.0.11.1', ip(c(h2, 0)));
    assert.match(t.probe?.from ?? '', /this host, source 250\.0\.11\.1/);
  });

  it('--netns sends from the namespace given', async () => {
    const t = await trace([ip(c(h1, 0)), ip(c(h2, 0)), '--probe', '--netns', c(h1, 0).ns]);
    assert.equal(t.probe?.from, `namespace ${c(h1, 0).ns}`);
    assert.equal(t.probe?.matches, true);
  });

  it('disagrees, and exits non-zero, when the peer drops UDP 8472: the packet left but never came back', async () => {
    await root.run(['ip', 'netns', 'exec', h2.ns, 'nft', '-f', '-'], {
      input:
        'table ip fandrblock {\n\tchain input {\n' +
        '\t\ttype filter hook input priority -10; policy accept;\n\t\tudp dport 8472 drop\n\t}\n}\n',
    });
    try {
      const t = await trace([ip(c(h1, 0)), ip(c(h2, 0)), '--probe'], false);
      assert.equal(t.outcome, 'delivered', 'the computed path is unchanged');
      assert.equal(t.probe?.matches, false);
      assert.equal(t.probe?.stoppedAt, 'beyond');
    } finally {
      await inNs(h2.ns, ['nft', 'delete', 'table', 'ip', 'fandrblock']);
    }
  });

  it('prints hops as a table without --json, and refuses a source of another host', async () => {
    const out = await fanctl(h1, ['trace', ip(c(h1, 0)), ip(c(h2, 0)), 'tcp/80']);
    assert.match(out.stdout, /cross-host, vxlan, underlay host 172\.16\.0\.12/);
    assert.match(out.stdout, /fan_egress on fan-vxlan/);
    const wrong = await fanctl(h1, ['trace', ip(c(h2, 0)), ip(c(h1, 0))], { allowFailure: true });
    assert.equal(wrong.exitCode, 2);
    assert.match(wrong.stderr, /is not on this host: it is in the slice of 172\.16\.0\.12/);
  });
});

/**
 * fanctl doctor on a real 2-host lab: all checks pass on a healthy host; then, one at a time, exactly one thing is
 * broken on h1 (or, for the VXLAN port, on its peer h2). Doctor must name that check and exit non-zero, and pass
 * again once the thing is fixed the way its report says.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { splitRuleLine } from '../../src/codec/ops/iptables.js';
import { formatCidr, formatIpv4 } from '../../src/core/address/ipv4.js';
import { FANCTL, fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { DEFAULT_LAB, type LabHost, type LabTopology } from '../../src/lab/topology.js';
import { inNs, root } from './helpers.js';

const NAME = 'fandrd';
const OVERLAY = '250.0.0.0/8';

interface Report {
  checks: { id: string; verdict: string; seen: string; fix?: string }[];
  failed: string[];
}

describe('fanctl doctor', { timeout: 900_000 }, () => {
  let topo: LabTopology;
  let h1: LabHost;
  let h2: LabHost;
  before(async () => {
    await labDown(NAME);
    topo = await labUp({ ...DEFAULT_LAB, name: NAME, hosts: 2, containers: 1, overlays: [OVERLAY], dhcp: true });
    h1 = topo.hosts[0] as LabHost;
    h2 = topo.hosts[1] as LabHost;
  });
  after(async () => {
    await labDown(NAME);
  });

  const peer = (): string => formatIpv4(h2.underlay.address);
  const doctor = async (
    host: LabHost = h1,
    env: string[] = [],
  ): Promise<{ code: number; report: Report; stderr: string }> => {
    const out = await root.run(
      [
        'ip',
        'netns',
        'exec',
        host.ns,
        'env',
        `FAN_STATE_DIR=${host.stateDir}`,
        ...env,
        process.execPath,
        FANCTL,
        'doctor',
        '--json',
        '--peer',
        host === h1 ? peer() : formatIpv4(h1.underlay.address),
      ],
      { allowFailure: true, timeoutMs: 120_000 },
    );
    return { code: out.exitCode, report: JSON.parse(out.stdout) as Report, stderr: out.stderr };
  };
  const reup = (host: LabHost = h1) =>
    fanctl(host, [
      'up',
      '-o',
      OVERLAY,
      '-u',
      formatCidr({ address: host.underlay.address & 0xffff0000, prefix: 16 }),
      '--dhcp',
    ]);
  const check = (r: Report, id: string) => r.checks.find((c) => c.id === id);

  /**
   * Breaks one thing, expects doctor to fail `id` (the others it may name too are listed), fixes it, expects a pass.
   */
  async function breakAndFix(
    id: string,
    breakIt: () => Promise<unknown>,
    fix: () => Promise<unknown>,
    seen: RegExp,
    host: LabHost = h1,
    env: string[] = [],
  ): Promise<void> {
    await breakIt();
    try {
      const broken = await doctor(host, env);
      assert.notEqual(broken.code, 0, `doctor exits non-zero with ${id} broken`);
      assert.ok(broken.report.failed.includes(id), `doctor names ${id}; failed: ${broken.report.failed.join(', ')}`);
      assert.match(check(broken.report, id)?.seen ?? '', seen);
      assert.ok((check(broken.report, id)?.fix ?? '').length > 0, 'and says how to fix it');
      assert.match(broken.stderr, new RegExp(`doctor check\\(s\\) failed: .*${id}`));
    } finally {
      await fix();
    }
    const fixed = await doctor(host);
    assert.equal(
      fixed.code,
      0,
      `after the fix: ${fixed.report.checks
        .filter((c) => c.verdict === 'fail')
        .map((c) => `${c.id}: ${c.seen}`)
        .join('; ')}`,
    );
  }

  it('passes every check on a healthy host, and prints a table without --json', async () => {
    const { code, report } = await doctor();
    assert.equal(code, 0, JSON.stringify(report.checks.filter((c) => c.verdict !== 'ok')));
    assert.ok(
      report.checks.every((c) => c.verdict === 'ok'),
      JSON.stringify(report.checks.filter((c) => c.verdict !== 'ok')),
    );
    assert.match(
      check(report, 'vxlan-port')?.seen ?? '',
      new RegExp(/250\.0\.11\.1 → 250\.0\.12\.1 /.source + /answered through the tunnel/.source),
    );
    const table = await fanctl(h1, ['doctor', '--peer', peer()]);
    assert.match(table.stdout, /all checks passed \(13 ok/);
  });

  it('kernel: a missing eBPF object', () =>
    breakAndFix(
      'kernel',
      async () => undefined,
      async () => undefined,
      /eBPF object \/nonexistent\/fan\.bpf\.o is missing/,
      h1,
      ['FAN_BPF_OBJECT=/nonexistent/fan.bpf.o'],
    ));

  it('ip-forward: net.ipv4.ip_forward=0', () =>
    breakAndFix(
      'ip-forward',
      () => inNs(h1.ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0']),
      () => inNs(h1.ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']),
      /ip_forward = 0/,
    ));

  it("forward: FORWARD policy DROP with fan's rules removed", () =>
    breakAndFix(
      'forward',
      async () => {
        await inNs(h1.ns, ['iptables', '-w', '-P', 'FORWARD', 'DROP']);
        // Every rule carrying fan's comment for the bridge, deleted by its own words.
        for (const line of (await inNs(h1.ns, ['iptables', '-w', '-S', 'FORWARD'])).split('\n')) {
          const words = splitRuleLine(line);
          if (words[0] === '-A' && words.includes('fan fan-250'))
            await inNs(h1.ns, ['iptables', '-w', '-D', ...words.slice(1)]);
        }
      },
      async () => {
        await reup(); // re-adds the rules; the DROP policy stays, and fan's traffic passes it
      },
      /FORWARD policy is DROP and fan's ACCEPT rules are missing in FORWARD for fan-250/,
    ).finally(() => inNs(h1.ns, ['iptables', '-w', '-P', 'FORWARD', 'ACCEPT'])));

  it('mtu: a container at 1500 behind a 1450 tunnel', async () => {
    const c = h1.containers[0];
    assert.ok(c);
    const set = async (mtu: string) => {
      await inNs(h1.ns, ['ip', 'link', 'set', 'dev', c.hostIf, 'mtu', mtu]);
      await inNs(c.ns, ['ip', 'link', 'set', 'dev', 'eth0', 'mtu', mtu]);
    };
    await breakAndFix(
      'mtu',
      () => set('1500'),
      () => set('1450'),
      new RegExp(
        `container port ${c.hostIf} \\(container end eth0 in ${c.ns}: ` +
          `1500\\) on fan-250 has MTU 1500 behind a fan MTU of 1450`,
      ),
    );
  });

  it('vxlan-port: UDP 8472 dropped on the peer', () =>
    breakAndFix(
      'vxlan-port',
      () =>
        root.run(['ip', 'netns', 'exec', h2.ns, 'nft', '-f', '-'], {
          input:
            'table ip fandrblock {\n\tchain input {\n' +
            '\t\ttype filter hook input priority -10; policy accept;\n\t\tudp dport 8472 drop\n\t}\n}\n',
        }),
      () => inNs(h2.ns, ['nft', 'delete', 'table', 'ip', 'fandrblock']),
      new RegExp(
        `${peer().replace(/\./g, '\\.')} answers on the underlay, but not through the tunnel.*UDP 8472 is blocked`,
      ),
    ));

  it('offload: tx checksum offload off on the tunnel', () =>
    breakAndFix(
      'offload',
      () => inNs(h1.ns, ['ethtool', '-K', 'fan-vxlan', 'tx', 'off']),
      () => inNs(h1.ns, ['ethtool', '-K', 'fan-vxlan', 'tx', 'on']),
      /tx-checksumming is off on fan-vxlan/,
    ));

  it('overlap: a route inside the overlay', () =>
    breakAndFix(
      'overlap',
      () => inNs(h1.ns, ['ip', 'route', 'add', '250.0.99.0/24', 'dev', 'eth0']),
      () => inNs(h1.ns, ['ip', 'route', 'del', '250.0.99.0/24', 'dev', 'eth0']),
      /route 250\.0\.99\.0\/24 dev eth0 .*overlaps overlay 250\.0\.0\.0\/8/,
    ));

  it('rp-filter: strict mode and a route that takes a peer slice to the underlay', () =>
    breakAndFix(
      'rp-filter',
      async () => {
        await inNs(h1.ns, ['sysctl', '-q', '-w', 'net.ipv4.conf.all.rp_filter=1']);
        await inNs(h1.ns, ['ip', 'route', 'add', '250.0.12.0/24', 'dev', 'eth0']);
      },
      async () => {
        await inNs(h1.ns, ['ip', 'route', 'del', '250.0.12.0/24', 'dev', 'eth0']);
        await inNs(h1.ns, ['sysctl', '-q', '-w', 'net.ipv4.conf.all.rp_filter=0']);
      },
      /rp_filter is strict on fan-vxlan, and the route back to 250\.0\.12\.2 goes via eth0/,
    ));

  it('duplicate-address: a second host with the same underlay address', async () => {
    const dup = `${NAME}-dup`;
    await breakAndFix(
      'duplicate-address',
      async () => {
        await root.run(['ip', 'netns', 'add', dup]);
        await root.run([
          'ip',
          'link',
          'add',
          'eth0',
          'netns',
          dup,
          'type',
          'veth',
          'peer',
          'name',
          'dup',
          'netns',
          topo.switchNs,
        ]);
        await root.run(['ip', '-n', topo.switchNs, 'link', 'set', 'dup', 'master', 'br0', 'up']);
        await root.run(['ip', '-n', dup, 'address', 'add', formatCidr(h1.underlay), 'dev', 'eth0']);
        await root.run(['ip', '-n', dup, 'link', 'set', 'eth0', 'up']);
      },
      () => root.run(['ip', 'netns', 'del', dup], { allowFailure: true }),
      new RegExp(
        `another machine \\([0-9a-f:]{17}\\) answers ARP for ` +
          `${formatIpv4(h1.underlay.address).replace(/\./g, '\\.')} on eth0`,
      ),
    );
  });

  it("dnsmasq: the fan's dnsmasq killed", async () => {
    const record = JSON.parse(await inNs(h1.ns, ['cat', `${h1.stateDir}/fan-250.dnsmasq.json`])) as { pid: number };
    await breakAndFix(
      'dnsmasq',
      async () => {
        process.kill(record.pid, 'SIGKILL'); // the dnsmasq fanctl started for this lab host
        for (
          let i = 0;
          i < 50 && (await root.run(['test', '-e', `/proc/${record.pid}/comm`], { allowFailure: true })).exitCode === 0;
          i++
        )
          await new Promise((r) => setTimeout(r, 100));
      },
      () => reup(),
      /dnsmasq fan started for fan-250 is not running/,
    );
  });

  it('dnsmasq: alive and holding its socket, but not answering (stopped)', async () => {
    const record = JSON.parse(await inNs(h1.ns, ['cat', `${h1.stateDir}/fan-250.dnsmasq.json`])) as { pid: number };
    await breakAndFix(
      'dnsmasq',
      async () => process.kill(record.pid, 'SIGSTOP'),
      async () => process.kill(record.pid, 'SIGCONT'),
      new RegExp(`dnsmasq ${record.pid} for fan-250 does not answer a DHCPDISCOVER`),
    );
  });

  it('ebpf: the egress program detached from the tunnel', () =>
    breakAndFix(
      'ebpf',
      () => inNs(h1.ns, ['tc', 'filter', 'del', 'dev', 'fan-vxlan', 'egress', 'pref', '250']),
      () => reup(),
      /egress program is not attached to fan-vxlan/,
    ));

  it('nft: the table flushed (its key comment left in place)', async () => {
    await breakAndFix(
      'nft',
      async () => {
        await inNs(h1.ns, ['nft', 'flush', 'table', 'ip', 'fan']);
        assert.match(
          await inNs(h1.ns, ['nft', 'list', 'table', 'ip', 'fan']),
          /managed by fanctl; key/,
          'the key survives a flush',
        );
      },
      async () => {
        await inNs(h1.ns, ['nft', 'delete', 'table', 'ip', 'fan']);
        await reup();
      },
      /missing: .*masquerade/,
    );
  });

  it("state: a fan route deleted behind fan's back", () =>
    breakAndFix(
      'state',
      () => inNs(h1.ns, ['ip', 'route', 'del', OVERLAY, 'proto', '250']),
      () => reup(),
      /fanctl up would: .*route 250\.0\.0\.0\/8/,
    ));

  it('checks the peer too: h2 passes with h1 as its peer', async () => {
    const { code, report } = await doctor(h2);
    assert.equal(code, 0, JSON.stringify(report.failed));
  });
});

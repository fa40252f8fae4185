/** DHCP from the fan's dnsmasq, FORWARD policy DROP, and rollback of a failed `up`. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { formatIpv4, parseIpv4 } from '../../src/core/address/ipv4.js';
import { labCheck } from '../../src/lab/check.js';
import { FANCTL, containerAddress, fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { DEFAULT_LAB, type LabTopology } from '../../src/lab/topology.js';
import { fanObjects, inNs, json, root } from './helpers.js';
import { ExecRunner } from '../../src/kernel/exec.js';

describe('DHCP on the fan bridge', { timeout: 120_000 }, () => {
  const NAME = 'fane2edhcp';
  let topo: LabTopology;
  before(async () => {
    await labDown(NAME);
    topo = await labUp({ ...DEFAULT_LAB, name: NAME, hosts: 2, containers: 2, dhcp: true });
  });
  after(async () => {
    await labDown(NAME);
  });

  it('leases an address after the host reserve, with the bridge as gateway and the fan MTU', async () => {
    for (const host of topo.hosts) {
      for (const c of host.containers) {
        const address = parseIpv4(await containerAddress(c));
        const slice = c.gateway - 1;
        assert.ok(
          address >= slice + 2 && address <= slice + 254,
          `${formatIpv4(address)} in ${formatIpv4(slice)}/24 after the reserve`,
        );
        const routes = await json<{ dst: string; gateway?: string }[]>(c.ns, [
          'ip',
          '-json',
          'route',
          'show',
          'default',
        ]);
        assert.equal(routes[0]?.gateway, formatIpv4(c.gateway));
        const links = await json<{ mtu: number }[]>(c.ns, ['ip', '-json', 'link', 'show', 'eth0']);
        assert.equal(links[0]?.mtu, 1450);
      }
    }
    const report = await labCheck(topo);
    assert.equal(report.failed, 0);
  });

  it('shows the dnsmasq pid and stops it on down', async () => {
    const host = topo.hosts[0];
    assert.ok(host);
    const status = JSON.parse((await fanctl(host, ['show', '--json'])).stdout) as {
      fans: { dhcp: { pid?: number } }[];
    };
    assert.ok((status.fans[0]?.dhcp.pid ?? 0) > 0);
    await fanctl(host, ['down', '-e', '--force']);
    assert.equal((await fanObjects(host.ns)).dnsmasq, 0);
  });
});

describe('FORWARD policy DROP (as Docker leaves it)', { timeout: 120_000 }, () => {
  const NAME = 'fane2edrop';
  after(async () => {
    await labDown(NAME);
  });
  it(`keeps forwarding when a DROP policy comes after up, through comment-marked rules (in DOCKER-USER when Docker \
made it) removed on down`, async () => {
    await labDown(NAME);
    const topo = await labUp({ ...DEFAULT_LAB, name: NAME, hosts: 2, containers: 1 });
    const [h1, h2] = topo.hosts;
    assert.ok(h1 && h2);
    // Docker starts after fan, with no fanctl run since: h1 gets FORWARD policy DROP; h2 also DOCKER-USER, jumped
    // to first, as Docker leaves it.
    await inNs(h2.ns, ['iptables', '-w', '-N', 'DOCKER-USER']);
    await inNs(h2.ns, ['iptables', '-w', '-I', 'FORWARD', '-j', 'DOCKER-USER']);
    for (const host of topo.hosts) await inNs(host.ns, ['iptables', '-w', '-P', 'FORWARD', 'DROP']);
    const report = await labCheck(topo);
    assert.equal(
      report.failed,
      0,
      report.results
        .filter((r) => !r.ok)
        .map((r) => `${r.from}→${r.to}`)
        .join(', '),
    );
    assert.equal((await fanObjects(h1.ns)).forwardRules, 3);
    // A fan brought up while Docker's DOCKER-USER exists puts its rules there.
    await fanctl(h2, ['up', '-o', '251.0.0.0/8', '-u', '172.16.0.0/16']);
    assert.match(
      await inNs(h2.ns, ['iptables', '-w', '-S', 'DOCKER-USER']),
      /-A DOCKER-USER -i fan-vxlan -o fan-251 -m comment --comment "fan fan-251" -j ACCEPT/,
    );
    for (const host of topo.hosts) {
      await fanctl(host, ['down', '-e', '--force']);
      assert.equal((await fanObjects(host.ns)).forwardRules, 0);
      assert.match(await inNs(host.ns, ['iptables', '-w', '-S', 'FORWARD']), /-P FORWARD DROP/);
    }
    assert.equal(
      await inNs(h2.ns, ['iptables', '-w', '-S', 'DOCKER-USER']),
      '-N DOCKER-USER\n',
      "Docker's chain stays, empty",
    );
  });
});

describe('a failure in the middle of up', { timeout: 60_000 }, () => {
  const NS = 'fane2efail-h1';
  after(async () => {
    await root.run(['ip', 'netns', 'del', NS], { allowFailure: true });
  });
  it('rolls back everything that run created and saves no state', async () => {
    await root.run(['ip', 'netns', 'del', NS], { allowFailure: true });
    await root.run(['ip', 'netns', 'add', NS]);
    await root.run(['ip', '-n', NS, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
    await root.run(['ip', '-n', NS, 'address', 'add', '172.16.0.11/16', 'dev', 'eth0']);
    await root.run(['ip', '-n', NS, 'link', 'set', 'eth0', 'up']);
    const stateDir = `/run/fanlab/${NS}`;
    // An ELF file that is not an eBPF object: the probes pass, `tc filter add` fails after the bridge, the
    // tunnel and the addresses were created.
    const failed = await root.run(
      [
        'ip',
        'netns',
        'exec',
        NS,
        'env',
        `FAN_STATE_DIR=${stateDir}`,
        'FAN_BPF_OBJECT=/bin/true',
        process.execPath,
        FANCTL,
        'up',
        '-o',
        '250.0.0.0/8',
        '-u',
        '172.16.0.0/16',
      ],
      { allowFailure: true },
    );
    assert.notEqual(failed.exitCode, 0);
    assert.match(failed.stderr, /failed \(attach eBPF programs/);
    assert.match(failed.stderr, /rolled back the \d+ change/);
    assert.deepEqual(await fanObjects(NS), { links: [], routes: 0, nft: false, dnsmasq: 0, forwardRules: 0 });
    const show = await root.run([
      'ip',
      'netns',
      'exec',
      NS,
      'env',
      `FAN_STATE_DIR=${stateDir}`,
      process.execPath,
      FANCTL,
      'show',
      '--json',
    ]);
    assert.deepEqual((JSON.parse(show.stdout) as { fans: unknown[] }).fans, []);
    await root.run(['rm', '-rf', stateDir]);
  });
});

describe('fans from /etc/network/fan and the old positional syntax', { timeout: 120_000 }, () => {
  const NAME = 'fane2ecfg';
  let topo: LabTopology;
  before(async () => {
    await labDown(NAME);
    topo = await labUp({ ...DEFAULT_LAB, name: NAME, hosts: 1, containers: 0 });
  });
  after(async () => {
    await labDown(NAME);
  });
  it(`brings up the enabled lines with up -a, takes exactly those down with down -a, \
and accepts Ubuntu's old syntax`, async () => {
    const host = topo.hosts[0];
    assert.ok(host);
    await fanctl(host, ['down', '-e']);
    const config = `${host.stateDir}/fan.conf`;
    await root.run([
      'sh',
      '-c',
      `printf '%s\\n' '# fans of this host' '' '-o 250.0.0.0/8 -u ` +
        `172.16.0.0/16 --dhcp' '251.0.0.0/8 eth0/16 off' > ${config}`,
    ]);
    await fanctl(host, ['up', '-a', '-c', config]);
    // Old positional form, on the command line.
    await fanctl(host, ['up', '252.0.0.0/8', 'eth0/16', 'host-reserve', '3', 'bridge', 'fanold']);
    const show = (await fanctl(host, ['show'])).stdout.split('\n');
    assert.equal(show[0], 'Bridge           Underlay             Overlay              Flags');
    assert.equal(show[1], 'fan-250          172.16.0.11/16       250.0.0.0/8          dhcp host-reserve 1');
    assert.equal(show[2], 'fanold           172.16.0.11/16       252.0.0.0/8          host-reserve 3');
    assert.equal(show.filter((l) => l.includes('251.0.0.0/8')).length, 0);
    const addresses = await json<{ addr_info: { local: string }[] }[]>(host.ns, [
      'ip',
      '-json',
      '-4',
      'address',
      'show',
      'dev',
      'fanold',
    ]);
    assert.deepEqual(
      addresses[0]?.addr_info.map((a) => a.local),
      ['252.0.11.1', '252.0.11.2', '252.0.11.3'],
    );
    await fanctl(host, ['down', '-a', '-c', config]);
    const left = (await fanctl(host, ['show', '--json'])).stdout;
    assert.deepEqual(
      (JSON.parse(left) as { fans: { bridge: string }[] }).fans.map((f) => f.bridge),
      ['fanold'],
    );
    await fanctl(host, ['down', '-e']);
    assert.deepEqual(await fanObjects(host.ns), { links: [], routes: 0, nft: false, dnsmasq: 0, forwardRules: 0 });
  });

  it('rejects a broken config file naming every bad line, and changes nothing', async () => {
    const host = topo.hosts[0];
    assert.ok(host);
    const config = `${host.stateDir}/bad.conf`;
    await root.run([
      'sh',
      '-c',
      `printf '%s\\n' '-o 250.0.0.0/8 -u 172.16.0.0/8' 'up 127.0.0.0/8 ` +
        `eth0/16' '-o 251.0.0.0/8 -u eth0/16 --bogus' > ${config}`,
    ]);
    const result = await fanctl(host, ['up', '-a', '-c', config], { allowFailure: true });
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /bad\.conf:1: overlay 250\.0\.0\.0\/8 must be wider/);
    assert.match(result.stderr, /bad\.conf:2: overlay 127\.0\.0\.0\/8 overlaps loopback/);
    assert.match(result.stderr, /bad\.conf:3: unknown option "--bogus"/);
    assert.deepEqual(await fanObjects(host.ns), { links: [], routes: 0, nft: false, dnsmasq: 0, forwardRules: 0 });
  });
});

describe('objects fan did not create', { timeout: 60_000 }, () => {
  const NS = 'fane2eforeign-h1';
  const stateDir = `/run/fanlab/${NS}`;
  const up = () =>
    root.run(
      [
        'ip',
        'netns',
        'exec',
        NS,
        'env',
        `FAN_STATE_DIR=${stateDir}`,
        process.execPath,
        FANCTL,
        'up',
        '-o',
        '250.0.0.0/8',
        '-u',
        '172.16.0.0/16',
      ],
      { allowFailure: true },
    );
  before(async () => {
    await root.run(['ip', 'netns', 'del', NS], { allowFailure: true });
    await root.run(['ip', 'netns', 'add', NS]);
    await root.run(['ip', '-n', NS, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
    await root.run(['ip', '-n', NS, 'address', 'add', '172.16.0.11/16', 'dev', 'eth0']);
    await root.run(['ip', '-n', NS, 'link', 'set', 'eth0', 'up']);
  });
  after(async () => {
    await root.run(['ip', 'netns', 'del', NS], { allowFailure: true });
    await root.run(['rm', '-rf', stateDir]);
  });

  it('refuses to take over a bridge with the fan name that it did not create', async () => {
    await root.run(['ip', '-n', NS, 'link', 'add', 'fan-250', 'type', 'bridge']);
    const result = await up();
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /fan-250 already exists and was not created by fan/);
    const links = await json<{ ifname: string }[]>(NS, ['ip', '-json', 'link', 'show']);
    assert.deepEqual(links.map((l) => l.ifname).sort(), ['eth0', 'eth1', 'fan-250', 'lo']);
    await root.run(['ip', '-n', NS, 'link', 'del', 'fan-250']);
  });

  it('refuses to replace an nftables table named fan that it did not create, and leaves it as it was', async () => {
    await new ExecRunner(NS).run(['nft', '-f', '-'], {
      input: 'table ip fan {\n\tchain keep {\n\t\ttype filter hook input priority 0; policy accept;\n\t}\n}\n',
    });
    const result = await up();
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /nftables table "ip fan" exists that fan did not create/);
    assert.match(await inNs(NS, ['nft', 'list', 'table', 'ip', 'fan']), /chain keep/);
    const links = await json<{ ifname: string }[]>(NS, ['ip', '-json', 'link', 'show']);
    assert.deepEqual(links.map((l) => l.ifname).sort(), ['eth0', 'eth1', 'lo']);
  });
});

/**
 * The Debian package on a clean Debian 12 root: build it with scripts/package.mjs, install it with `dpkg -i` in a
 * chroot (a copy of a debootstrap minbase root with the package's dependencies, see test/lab/debian-root.ts), run
 * fanctl from PATH, verify the systemd units, then `dpkg -r` and `dpkg --purge` and compare the root's file list
 * with the one before the install. Everything lives under /var/tmp/fanpk-… and /var/cache/fanpk-debian.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ExecRunner } from '../../src/kernel/exec.js';
import { renderAgentService, renderFanService, PACKAGE_LAYOUT } from '../../src/service/units.js';
import { copyRoot, inRoot, preparedRoot } from '../lab/debian-root.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const root = new ExecRunner();
const UNITS = ['/lib/systemd/system/fan.service', '/lib/systemd/system/fan-agent.service'];
const IFUP_NS = 'fanpkdeb-ifup';
const ENABLED = [
  '/etc/systemd/system/multi-user.target.wants/fan.service',
  '/etc/systemd/system/multi-user.target.wants/fan-agent.service',
];

/** Every path of the root except the pseudo and scratch file systems. */
async function fileList(dir: string): Promise<Set<string>> {
  const out = await root.run([
    'find',
    dir,
    '-xdev',
    '(',
    '-path',
    `${dir}/proc`,
    '-o',
    '-path',
    `${dir}/tmp`,
    '-o',
    '-path',
    `${dir}/dev`,
    '-o',
    '-path',
    `${dir}/run`,
    '-o',
    '-path',
    `${dir}/sys`,
    ')',
    '-prune',
    '-o',
    '-print',
  ]);
  return new Set(
    out.stdout
      .split('\n')
      .filter(Boolean)
      .map((p) => p.slice(dir.length) || '/'),
  );
}

const difference = (a: Set<string>, b: Set<string>): string[] => [...a].filter((p) => !b.has(p)).sort();

describe('the Debian package on a clean Debian 12 root', { timeout: 1_800_000 }, () => {
  let work: string;
  let chroot: string;
  let deb: string;
  let forwardDeb: string;
  let listed: string[] = [];
  let beforeInstall: Set<string>;

  before(async () => {
    work = await mkdtemp('/var/tmp/fanpk-deb-');
    const built = await root.run([process.execPath, `${REPO}scripts/package.mjs`, '--out', work], {
      timeoutMs: 600_000,
    });
    deb = /package: (\S+\.deb)/.exec(built.stdout)?.[1] ?? '';
    assert.match(deb, /fan_\d+\.\d+\.\d+_all\.deb$/, built.stdout);
    deb = deb.startsWith('/') ? deb : `${process.cwd()}/${deb}`;
    forwardDeb = /package: (\S+\/fan-cni-forward_\S+\.deb)/.exec(built.stdout)?.[1] ?? '';
    assert.match(
      forwardDeb,
      /fan-cni-forward_\d+\.\d+\.\d+_[a-z0-9]+\.deb$/,
      `setup.sh installs clang: ${built.stdout}`,
    );
    forwardDeb = forwardDeb.startsWith('/') ? forwardDeb : `${process.cwd()}/${forwardDeb}`;
    const depends = (await root.run(['dpkg-deb', '-f', deb, 'Depends'])).stdout.trim();
    const prepared = await preparedRoot(depends, ['systemd', 'ifupdown'], (line) => console.log(`# ${line}`));
    chroot = `${work}/root`;
    await copyRoot(prepared, chroot);
    await root.run(['cp', deb, `${chroot}/tmp/fan.deb`]);
    beforeInstall = await fileList(chroot);
  });
  after(async () => {
    await root.run(['ip', 'netns', 'del', IFUP_NS], { allowFailure: true });
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('declares its dependencies and conffiles', async () => {
    const fields = (await root.run(['dpkg-deb', '-f', deb, 'Package', 'Architecture', 'Depends'])).stdout;
    assert.match(fields, /^Package: fan$/m);
    assert.match(fields, /^Architecture: all$/m);
    for (const dep of ['nodejs (>= 20)', 'iproute2', 'nftables', 'iptables', 'bpftool', 'dnsmasq-base'])
      assert.ok(fields.includes(dep), dep);
    const conffiles = (await root.run(['sh', '-c', `dpkg-deb --ctrl-tarfile '${deb}' | tar -xOf - ./conffiles`]))
      .stdout;
    assert.deepEqual(conffiles.trim().split('\n'), ['/etc/network/fan', '/etc/default/fan']);
  });

  it('installs with dpkg -i and puts fanctl on PATH', async () => {
    const installed = await inRoot(chroot, ['dpkg', '-i', '/tmp/fan.deb'], { allowFailure: true });
    assert.equal(installed.exitCode, 0, installed.stdout + installed.stderr);
    assert.equal((await inRoot(chroot, ['sh', '-c', 'command -v fanctl'])).stdout.trim(), '/usr/bin/fanctl');
    assert.equal(
      (await inRoot(chroot, ['fanctl', '--version'])).stdout.trim(),
      JSON.parse(await readFile(`${REPO}package.json`, 'utf8')).version,
    );
    // The pure commands run from the installed tree, with its node_modules.
    assert.equal(
      (await inRoot(chroot, ['fanctl', 'slice', '-o', '250.0.0.0/8', '-u', '172.16.3.4/16'])).stdout.trim(),
      '250.3.4.0/24',
    );
    const check = await inRoot(chroot, ['fanctl', 'config', 'check', '--json']);
    assert.deepEqual(JSON.parse(check.stdout).fans, [], 'the default /etc/network/fan brings up nothing');
    listed = (await inRoot(chroot, ['dpkg', '-L', 'fan'])).stdout.split('\n').filter(Boolean);
  });

  it('puts the CNI plugin, the eBPF object, the units and the conffiles in place', async () => {
    for (const path of [
      '/usr/lib/cni/fan',
      '/usr/lib/fan/build/bpf/fan.bpf.o',
      '/usr/lib/fan/node_modules/prom-client/package.json',
      '/etc/network/fan',
      '/etc/default/fan',
      ...UNITS,
    ]) {
      assert.ok(listed.includes(path), `${path} is in dpkg -L fan`);
    }
    assert.ok(
      !listed.some((p) => p.endsWith('.test.js') || p.includes('/node_modules/typescript/')),
      'no tests, no dev dependencies',
    );
    assert.equal(await readFile(`${chroot}/lib/systemd/system/fan.service`, 'utf8'), renderFanService(PACKAGE_LAYOUT));
    assert.equal(
      await readFile(`${chroot}/lib/systemd/system/fan-agent.service`, 'utf8'),
      renderAgentService(PACKAGE_LAYOUT),
    );
    const cniVersion = await inRoot(chroot, ['env', 'CNI_COMMAND=VERSION', '/usr/lib/cni/fan'], {
      input: '{"cniVersion":"1.0.0"}',
    });
    assert.ok(JSON.parse(cniVersion.stdout).supportedVersions.includes('1.0.0'), cniVersion.stdout);
    for (const link of ENABLED)
      assert.match(await readlink(`${chroot}${link}`), /fan(-agent)?\.service$/, `${link}: enabled on install`);
  });

  it(`installs fan-cni-forward next to it: the CNI plugin runs through the C forwarder; \
dpkg -r takes it back`, async () => {
    const fields = (await root.run(['dpkg-deb', '-f', forwardDeb, 'Architecture', 'Depends'])).stdout;
    const arch = (await root.run(['dpkg', '--print-architecture'])).stdout.trim();
    assert.match(fields, new RegExp(`^Architecture: ${arch}$`, 'm'));
    assert.match(fields, /^Depends: fan \(= \d+\.\d+\.\d+\)/m);
    const without = await fileList(chroot);
    await root.run(['cp', forwardDeb, `${chroot}/tmp/fan-cni-forward.deb`]);
    const installed = await inRoot(chroot, ['dpkg', '-i', '/tmp/fan-cni-forward.deb'], { allowFailure: true });
    assert.equal(installed.exitCode, 0, installed.stdout + installed.stderr);
    // No agent runs in the chroot: the forwarder finds no socket and execs the Node plugin, which answers.
    const traced = await inRoot(chroot, ['env', 'CNI_COMMAND=VERSION', 'sh', '-x', '/usr/lib/cni/fan'], {
      input: '{"cniVersion":"1.0.0"}',
    });
    assert.match(traced.stderr, /exec \/usr\/lib\/fan\/build\/bin\/fan-cni-forward \/usr\/bin\/node /, traced.stderr);
    assert.ok(JSON.parse(traced.stdout).supportedVersions.includes('1.0.0'), traced.stdout);
    const removed = await inRoot(chroot, ['dpkg', '--purge', 'fan-cni-forward'], { allowFailure: true });
    assert.equal(removed.exitCode, 0, removed.stdout + removed.stderr);
    await rm(`${chroot}/tmp/fan-cni-forward.deb`);
    const now = await fileList(chroot);
    assert.deepEqual(difference(now, without), [], 'nothing of fan-cni-forward left');
    assert.deepEqual(difference(without, now), [], 'nothing of fan removed');
  });

  it("runs Ubuntu's ifupdown lines with the installed fanctl (ifup/ifdown in a namespace of its own)", async () => {
    const interfaces = '/etc/network/fanpk-interfaces';
    await root.run(['ip', 'netns', 'del', IFUP_NS], { allowFailure: true });
    await root.run(['ip', 'netns', 'add', IFUP_NS]);
    try {
      const ns = new ExecRunner(IFUP_NS);
      await ns.run(['ip', 'link', 'set', 'lo', 'up']);
      await ns.run(['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0peer']);
      await ns.run(['ip', 'address', 'add', '172.16.3.4/16', 'dev', 'eth0']);
      await ns.run(['ip', 'link', 'set', 'eth0peer', 'up']);
      await ns.run(['ip', 'link', 'set', 'eth0', 'up']);
      // The stanza of Ubuntu's Fan documentation, run by Debian's ifupdown from the chroot.
      await writeFile(
        `${chroot}${interfaces}`,
        'iface eth0 inet manual\n    up fanctl up 250.0.0.0/8 eth0/16 dhcp\n    down fanctl down 250.0.0.0/8 eth0/16\n',
      );
      const up = await inRoot(chroot, ['ifup', '-v', '-i', interfaces, 'eth0'], {
        netns: IFUP_NS,
        allowFailure: true,
        timeoutMs: 120_000,
      });
      assert.equal(up.exitCode, 0, up.stdout + up.stderr);
      const show = await inRoot(chroot, ['fanctl', 'show'], { netns: IFUP_NS });
      assert.match(show.stdout, /^fan-250 +172\.16\.3\.4\/16 +250\.0\.0\.0\/8 +dhcp host-reserve 1$/m);
      const bridge = await ns.run(['ip', '-json', 'address', 'show', 'dev', 'fan-250']);
      assert.match(bridge.stdout, /"local":"250\.3\.4\.1"/);
      const down = await inRoot(chroot, ['ifdown', '-v', '-i', interfaces, 'eth0'], {
        netns: IFUP_NS,
        allowFailure: true,
        timeoutMs: 120_000,
      });
      assert.equal(down.exitCode, 0, down.stdout + down.stderr);
      assert.equal(
        (await ns.run(['ip', 'link', 'show', 'dev', 'fan-250'], { allowFailure: true })).exitCode,
        1,
        'fan-250 is gone after ifdown',
      );
    } finally {
      const pids = (await root.run(['ip', 'netns', 'pids', IFUP_NS], { allowFailure: true })).stdout
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await root.run(['ip', 'netns', 'del', IFUP_NS], { allowFailure: true });
      await rm(`${chroot}${interfaces}`, { force: true });
    }
  });

  it('passes systemd-analyze verify, as do the units of install-service (a broken unit fails)', async () => {
    const verify = await inRoot(chroot, ['systemd-analyze', 'verify', ...UNITS], { allowFailure: true });
    assert.equal(verify.exitCode, 0, verify.stdout + verify.stderr);
    // fanctl install-service writes the same units (only the header differs), and they verify too.
    await inRoot(chroot, ['fanctl', 'install-service', '--root', '/tmp/fanpk-svc', '--fanctl', '/usr/bin/fanctl']);
    const local = ['fan.service', 'fan-agent.service'].map((u) => `/tmp/fanpk-svc/etc/systemd/system/${u}`);
    const verifyLocal = await inRoot(chroot, ['systemd-analyze', 'verify', ...local], { allowFailure: true });
    assert.equal(verifyLocal.exitCode, 0, verifyLocal.stdout + verifyLocal.stderr);
    const body = (text: string): string => text.split('\n').slice(1).join('\n');
    assert.equal(
      body(await readFile(`${chroot}${local[0]}`, 'utf8')),
      body(await readFile(`${chroot}${UNITS[0]}`, 'utf8')),
    );
    assert.equal(
      body(await readFile(`${chroot}${local[1]}`, 'utf8')),
      body(await readFile(`${chroot}${UNITS[1]}`, 'utf8')),
    );
    await writeFile(`${chroot}/tmp/fanpk-broken.service`, '[Service]\nExecStart=/usr/bin/fanpk-no-such-program\n');
    const broken = await inRoot(chroot, ['systemd-analyze', 'verify', '/tmp/fanpk-broken.service'], {
      allowFailure: true,
    });
    assert.notEqual(broken.exitCode, 0, 'the control case must fail');
  });

  it("dpkg -r removes every file but the conffiles, and the units' enablement", async () => {
    const removed = await inRoot(chroot, ['dpkg', '-r', 'fan'], { allowFailure: true });
    assert.equal(removed.exitCode, 0, removed.stdout + removed.stderr);
    const left = difference(await fileList(chroot), beforeInstall);
    // dpkg keeps conffiles until purge, and the package's list and postrm to purge them with.
    const kept = [
      '/etc/default/fan',
      '/etc/network/fan',
      '/var/lib/dpkg/info/fan.list',
      '/var/lib/dpkg/info/fan.postrm',
    ];
    // /etc/network stays as the conffile's directory, unless another package (ifupdown) had made it already.
    assert.deepEqual(left, [...kept, ...(beforeInstall.has('/etc/network') ? [] : ['/etc/network'])].sort());
  });

  it('dpkg --purge leaves the root as it was before the install', async () => {
    const purged = await inRoot(chroot, ['dpkg', '--purge', 'fan'], { allowFailure: true });
    assert.equal(purged.exitCode, 0, purged.stdout + purged.stderr);
    const now = await fileList(chroot);
    assert.deepEqual(difference(now, beforeInstall), [], 'nothing added');
    assert.deepEqual(difference(beforeInstall, now), [], 'nothing of the base system removed');
    assert.equal((await inRoot(chroot, ['dpkg-query', '-W', 'fan'], { allowFailure: true })).exitCode, 1);
  });
});

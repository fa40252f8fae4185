import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CommanderError } from 'commander';
import type { HostFacts } from '../core/model/host-facts.js';
import { assertRejectsConfigError, hostFacts, iface, route, typicalHost } from '../testing/builders.js';
import { type CliDeps, buildProgram } from './program.js';

/** A fanctl wired to in-memory fakes. `facts` undefined: reading the host fails the test. */
function harness(options: { facts?: HostFacts; files?: Record<string, string>; env?: Record<string, string> } = {}) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  let hostReads = 0;
  const fileReads: string[] = [];
  const deps: CliDeps = {
    output: { out: (s) => void stdout.push(s), err: (s) => void stderr.push(s) },
    host: {
      readFacts: () => {
        hostReads++;
        if (options.facts === undefined) return Promise.reject(new Error('this command must not read the host'));
        return Promise.resolve(options.facts);
      },
    },
    files: {
      read: (path) => {
        fileReads.push(path);
        return Promise.resolve(options.files?.[path]);
      },
    },
    env: options.env ?? {},
    hostDeps: () => {
      throw new Error('calculator and config commands must not build kernel dependencies');
    },
  };
  return {
    run: (args: string): Promise<unknown> =>
      buildProgram(deps).parseAsync(
        args.split(' ').filter((a) => a !== ''),
        { from: 'user' },
      ),
    stdout: () => stdout.join(''),
    stderr: () => stderr.join(''),
    hostReads: () => hostReads,
    fileReads,
  };
}

describe('fanctl slice', () => {
  const rows: readonly [overlay: string, host: string, slice: string][] = [
    ['250.0.0.0/8', '172.16.3.4/16', '250.3.4.0/24'],
    ['99.0.0.0/8', '10.99.238.5/20', '99.224.80.0/20'],
    ['250.0.0.0/8', '192.168.1.20/24', '250.20.0.0/16'],
    ['250.1.0.0/16', '192.168.1.20/24', '250.1.20.0/24'],
  ];
  for (const [overlay, host, slice] of rows) {
    it(`slice -o ${overlay} -u ${host} prints ${slice} without reading the host`, async () => {
      const h = harness();
      await h.run(`slice -o ${overlay} -u ${host}`);
      assert.equal(h.stdout(), `${slice}\n`);
      assert.equal(h.stderr(), '');
      assert.equal(h.hostReads(), 0);
    });
  }

  it('accepts the long options and the overlay shorthand', async () => {
    const h = harness();
    await h.run('slice --overlay 250 --underlay 172.16.3.4/16');
    assert.equal(h.stdout(), '250.3.4.0/24\n');
  });

  for (const underlay of ['172.16.0.0/16', 'eth0/16', 'eth0', 'default/16', 'default']) {
    it(`-u ${underlay} reads this host's address from the host facts`, async () => {
      const h = harness({ facts: typicalHost() });
      await h.run(`slice -o 250.0.0.0/8 -u ${underlay}`);
      assert.equal(h.stdout(), '250.3.4.0/24\n');
      assert.equal(h.hostReads(), 1);
    });
  }

  it('--json prints every derived field', async () => {
    const h = harness();
    await h.run('slice -o 250.0.0.0/8 -u 172.16.3.4/16 --json');
    assert.deepEqual(JSON.parse(h.stdout()), {
      overlay: '250.0.0.0/8',
      underlay: '172.16.0.0/16',
      underlayHost: '172.16.3.4',
      slice: '250.3.4.0/24',
      slicePrefix: 24,
      gateway: '250.3.4.1',
      firstUsable: '250.3.4.1',
      lastUsable: '250.3.4.254',
      size: 256,
      vni: 16384000,
      bridge: 'fan-250',
    });
  });

  it('--json with --bridge reports the given bridge', async () => {
    const h = harness();
    await h.run('slice -o 99.0.0.0/8 -u 10.99.238.5/20 --bridge fanx --json');
    const report = JSON.parse(h.stdout()) as Record<string, unknown>;
    assert.equal(report.bridge, 'fanx');
    assert.equal(report.slice, '99.224.80.0/20');
    assert.equal(report.size, 4096);
    assert.equal(report.lastUsable, '99.224.95.254');
    assert.equal(report.vni, 6488064);
  });

  it('refuses an overlay that is not wider than the underlay, with a hint', async () => {
    const h = harness();
    await assertRejectsConfigError(
      h.run('slice -o 250.0.0.0/16 -u 172.16.3.4/16'),
      'overlay 250.0.0.0/16 must be wider than underlay 172.16.0.0/16 (overlay prefix 16 >= underlay prefix 16)',
      /longer underlay prefix/,
    );
    assert.equal(h.stdout(), '');
  });

  it('refuses the underlay broadcast address as a host', async () => {
    await assertRejectsConfigError(
      harness().run('slice -o 250.0.0.0/8 -u 172.16.255.255/16'),
      'host address 172.16.255.255 is the broadcast address of underlay 172.16.0.0/16',
      'a Fan host needs host bits that are neither all zero nor all one',
    );
  });

  it('reports a host without an address in the underlay', async () => {
    const h = harness({ facts: hostFacts([iface('eth0', ['192.0.2.2/24'])], [route('default', 'eth0')]) });
    await assertRejectsConfigError(
      h.run('slice -o 250.0.0.0/8 -u 172.16.0.0/16'),
      'this host has no address inside underlay 172.16.0.0/16',
      'addresses found: eth0 192.0.2.2/24; name the underlay this host is on',
    );
  });

  it('a missing mandatory option is a usage error on stderr', async () => {
    const h = harness();
    await assert.rejects(
      h.run('slice -o 250.0.0.0/8'),
      (e: unknown) =>
        e instanceof CommanderError && e.code === 'commander.missingMandatoryOptionValue' && e.exitCode === 1,
    );
    assert.match(h.stderr(), /required option '-u, --underlay <spec>' not specified/);
    assert.equal(h.stdout(), '');
  });
});

describe('fanctl map', () => {
  it('99.6.7.8 with 99.0.0.0/8 over 10.88.0.0/16 → 10.88.6.7', async () => {
    const h = harness();
    await h.run('map 99.6.7.8 -o 99.0.0.0/8 -u 10.88.0.0/16');
    assert.equal(h.stdout(), '10.88.6.7\n');
    assert.equal(h.hostReads(), 0);
  });

  it('100.66.200.5 with 100.64.0.0/10 over 10.224.220.0/24 → 10.224.220.11', async () => {
    const h = harness();
    await h.run('map 100.66.200.5 -o 100.64.0.0/10 -u 10.224.220.0/24');
    assert.equal(h.stdout(), '10.224.220.11\n');
  });

  it('ignores the host bits of the underlay', async () => {
    const h = harness();
    await h.run('map 250.3.4.7 -o 250.0.0.0/8 -u 172.16.9.9/16');
    assert.equal(h.stdout(), '172.16.3.4\n');
  });

  it('--json adds the address to the slice report of the owning host', async () => {
    const h = harness();
    await h.run('map 99.6.7.8 -o 99.0.0.0/8 -u 10.88.0.0/16 --json');
    assert.deepEqual(JSON.parse(h.stdout()), {
      address: '99.6.7.8',
      overlay: '99.0.0.0/8',
      underlay: '10.88.0.0/16',
      underlayHost: '10.88.6.7',
      slice: '99.6.7.0/24',
      slicePrefix: 24,
      gateway: '99.6.7.1',
      firstUsable: '99.6.7.1',
      lastUsable: '99.6.7.254',
      size: 256,
      vni: 6488064,
      bridge: 'fan-99',
    });
  });

  it('refuses an address outside the overlay', async () => {
    await assertRejectsConfigError(
      harness().run('map 251.3.4.7 -o 250.0.0.0/8 -u 172.16.0.0/16'),
      '251.3.4.7 is not inside overlay 250.0.0.0/8',
      'give an address inside 250.0.0.0/8',
    );
  });

  it('refuses a malformed address', async () => {
    await assertRejectsConfigError(
      harness().run('map 250.3.4 -o 250.0.0.0/8 -u 172.16.0.0/16'),
      '"250.3.4" is not an IPv4 address',
      /four decimal octets/,
    );
  });

  it('refuses an underlay given as an interface', async () => {
    await assertRejectsConfigError(
      harness({ facts: typicalHost() }).run('map 250.3.4.7 -o 250.0.0.0/8 -u eth0/16'),
      'map needs the underlay as a network, not "eth0/16"',
      'e.g. -u 172.16.0.0/16',
    );
  });

  it('refuses an address whose host would be the underlay network address', async () => {
    await assertRejectsConfigError(
      harness().run('map 250.0.0.7 -o 250.0.0.0/8 -u 172.16.0.0/16'),
      'host address 172.16.0.0 is the network address of underlay 172.16.0.0/16',
    );
  });
});

describe('fanctl config check', () => {
  const GOOD = '# fans\n250.0.0.0/8 eth0/16 dhcp\n\n-o 240.0.0.0/8 -u eth1 off\n';

  it('lists every fan with its line and canonical words', async () => {
    const h = harness({ files: { '/etc/network/fan': GOOD } });
    await h.run('config check');
    assert.deepEqual(h.fileReads, ['/etc/network/fan']);
    assert.equal(
      h.stdout(),
      '/etc/network/fan:2: ok -o 250.0.0.0/8 -u eth0/16 --dhcp\n/etc/network/fan:4: ok -o 240.0.0.0/8 -u eth1 off\n',
    );
    assert.equal(h.stderr(), '');
  });

  it('takes the path from -c, then FAN_CONFIG, then the default', async () => {
    const files = { '/a': GOOD, '/b': GOOD };
    const viaEnv = harness({ files, env: { FAN_CONFIG: '/b' } });
    await viaEnv.run('config check');
    assert.deepEqual(viaEnv.fileReads, ['/b']);
    const viaFlag = harness({ files, env: { FAN_CONFIG: '/b' } });
    await viaFlag.run('config check -c /a');
    assert.deepEqual(viaFlag.fileReads, ['/a']);
  });

  it('prints every problem as FILE:LINE on stderr and fails with a ConfigError', async () => {
    const h = harness({ files: { '/f': '250.0.0.0/8 eth0/16\n250 eth0 bogus\n-o 250\n' } });
    await assertRejectsConfigError(h.run('config check -c /f'), '2 problem(s) in /f', 'fix the lines listed above');
    assert.equal(h.stdout(), '/f:1: ok -o 250.0.0.0/8 -u eth0/16\n');
    assert.equal(
      h.stderr(),
      '/f:2: unexpected word "bogus" (flags are: dhcp, dhcp-range START-END|N, ' +
        'off, host-reserve N, bridge NAME, type vxlan|host-gw|vxlan-fast|host-gw-fast)\n' +
        '/f:3: no underlay given (add -u UNDERLAY, e.g. -u 172.16.0.0/16 or -u eth0/16)\n',
    );
  });

  it('--json prints fans and problems', async () => {
    const h = harness({ files: { '/f': '250.0.0.0/8 eth0/16 dhcp\nbad\n' } });
    await assertRejectsConfigError(h.run('config check -c /f --json'), '1 problem(s) in /f');
    assert.deepEqual(JSON.parse(h.stdout()), {
      path: '/f',
      fans: [
        {
          line: 1,
          overlay: '250.0.0.0/8',
          underlay: 'eth0/16',
          enabled: true,
          words: ['-o', '250.0.0.0/8', '-u', 'eth0/16', '--dhcp'],
        },
      ],
      problems: [
        { line: 2, message: 'no underlay given', hint: 'add -u UNDERLAY, e.g. -u 172.16.0.0/16 or -u eth0/16' },
      ],
    });
    assert.equal(h.stderr(), '');
  });

  it('reports a missing file', async () => {
    await assertRejectsConfigError(
      harness().run('config check -c /nope'),
      'config file /nope does not exist',
      /pass --config PATH/,
    );
  });
});

describe('fanctl program', () => {
  it('--version prints the version through the output port', async () => {
    const h = harness();
    await assert.rejects(h.run('--version'), (e: unknown) => e instanceof CommanderError && e.exitCode === 0);
    assert.equal(h.stdout(), '0.1.0\n');
  });

  it('an unknown command is a usage error', async () => {
    const h = harness();
    await assert.rejects(h.run('frobnicate'), (e: unknown) => e instanceof CommanderError && e.exitCode === 1);
    assert.match(h.stderr(), /unknown command 'frobnicate'/);
  });
});

// ---- the built binary ---------------------------------------------------------------------------------------------

/** Repository root, from dist/src/cli/program.test.js. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FANCTL = join(ROOT, 'dist', 'src', 'bin', 'fanctl.js');

function fanctl(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.FAN_CONFIG;
  const r = spawnSync(process.execPath, [FANCTL, ...args], { cwd: ROOT, encoding: 'utf8', env, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('bin/fanctl (spawned)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fanctl-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('slice -o 250.0.0.0/8 -u 172.16.3.4/16 prints 250.3.4.0/24 and exits 0', () => {
    const r = fanctl('slice', '-o', '250.0.0.0/8', '-u', '172.16.3.4/16');
    assert.deepEqual(r, { status: 0, stdout: '250.3.4.0/24\n', stderr: '' });
  });

  it('bad input exits 2 with the message and the fix on stderr, nothing on stdout', () => {
    const r = fanctl('slice', '-o', '250.0.0.0/16', '-u', '172.16.3.4/16');
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      'fanctl: overlay 250.0.0.0/16 must be wider than underlay 172.16.0.0/16 ' +
        '(overlay prefix 16 >= underlay prefix 16)\n' +
        '  fix: use a shorter overlay prefix or a longer underlay prefix, e.g. -o 250.0.0.0/8 -u 172.16.0.0/16\n',
    );
  });

  it('a usage error exits 2 with nothing on stdout', () => {
    const r = fanctl('slice', '-o', '250.0.0.0/8');
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /required option/);
  });

  it('map 250.3.4.7 -o 250.0.0.0/8 -u 172.16.0.0/16 prints 172.16.3.4', () => {
    const r = fanctl('map', '250.3.4.7', '-o', '250.0.0.0/8', '-u', '172.16.0.0/16');
    assert.deepEqual(r, { status: 0, stdout: '172.16.3.4\n', stderr: '' });
  });

  it('config check -c FILE with a bad line exits non-zero naming FILE:LINE', () => {
    const file = join(dir, 'fan');
    writeFileSync(file, '# test\n250.0.0.0/8 eth0/16 dhcp\n250.0.0.0/8 eth0/16 --nope\n');
    const r = fanctl('config', 'check', '-c', file);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, `${file}:2: ok -o 250.0.0.0/8 -u eth0/16 --dhcp\n`);
    assert.ok(r.stderr.includes(`${file}:3: unknown option "--nope"`), r.stderr);
    assert.ok(r.stderr.includes(`fanctl: 1 problem(s) in ${file}`), r.stderr);
  });

  it('config check -c FILE on a good file exits 0', () => {
    const file = join(dir, 'good');
    writeFileSync(file, '250.0.0.0/8 eth0/16\n');
    const r = fanctl('config', 'check', '-c', file);
    assert.deepEqual(r, { status: 0, stdout: `${file}:1: ok -o 250.0.0.0/8 -u eth0/16\n`, stderr: '' });
  });
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { hostFacts, iface, route, typicalHost } from '../../testing/builders.js';
import { Buffer } from 'node:buffer';
import { FORWARDER_MARKER, configureForwarder, renderWrapper } from '../../cni/install.js';
import { cniInstallCommand, renderCniInstall } from './cni.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function setup(fans: string[][]): Promise<{ dir: string; stateDir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'fan-cni-install-'));
  dirs.push(dir);
  const stateDir = join(dir, 'state');
  await mkdir(stateDir);
  await writeFile(
    join(stateDir, 'fans.json'),
    JSON.stringify({ version: 1, fans: fans.map((words) => ({ words, source: 'cli' })) }),
  );
  return { dir, stateDir };
}

const facts = hostFacts(
  [
    ...typicalHost().interfaces,
    iface('fan-250', ['250.3.4.1/24'], { alias: 'fan: bridge' }),
    iface('fan-vxlan', [], { alias: 'fan: vxlan' }),
  ],
  [...typicalHost().routes, route('250.0.0.0/8', 'fan-vxlan')],
);
const host = { readFacts: () => Promise.resolve(facts) };

describe('fanctl cni install', () => {
  it('writes the wrapper and one conflist per fan that is up', async () => {
    const { dir, stateDir } = await setup([
      ['-o', '250.0.0.0/8', '-u', '172.16.0.0/16'],
      ['-o', '251.0.0.0/8', '-u', '172.16.0.0/16', '--bridge', 'fanb'],
    ]);
    const report = await cniInstallCommand(
      { dir: join(dir, 'bin'), confDir: join(dir, 'net.d') },
      { host, stateDir, stateDirFromEnv: true, packageRoot: '/opt/fan/', node: '/usr/bin/node' },
    );
    assert.equal(report.plugin, join(dir, 'bin', 'fan'));
    assert.deepEqual(
      report.conflists.map((c) => [c.network, c.overlay, c.bridge]),
      [
        ['fan-250', '250.0.0.0/8', 'fan-250'],
        ['fanb', '251.0.0.0/8', 'fanb'],
      ],
    );
    const wrapper = await readFile(report.plugin, 'utf8');
    assert.equal((await stat(report.plugin)).mode & 0o777, 0o755);
    assert.ok(wrapper.startsWith('#!/bin/sh\n'));
    assert.match(wrapper, new RegExp(`: "\\$\\{FAN_STATE_DIR:=${stateDir}\\}"`));
    assert.match(wrapper, /exec '\/usr\/bin\/node' '\/opt\/fan\/dist\/src\/bin\/fan-cni\.js' "\$@"/);
    const list = JSON.parse(await readFile(join(dir, 'net.d', '50-fan-250.conflist'), 'utf8')) as unknown;
    assert.deepEqual(list, {
      cniVersion: '1.0.0',
      name: 'fan-250',
      plugins: [
        { type: 'fan', overlay: '250.0.0.0/8' },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      ],
    });
    assert.match(renderCniInstall(report), /wrote .*50-fanb\.conflist \(network fanb: 251\.0\.0\.0\/8 on fanb\)/);
  });

  it("--overlay picks one fan; --cni-version sets the lists' version", async () => {
    const { dir, stateDir } = await setup([
      ['-o', '250.0.0.0/8', '-u', '172.16.0.0/16'],
      ['-o', '251.0.0.0/8', '-u', '172.16.0.0/16'],
    ]);
    const report = await cniInstallCommand(
      { dir: join(dir, 'bin'), confDir: join(dir, 'net.d'), overlay: '251', cniVersion: '1.1.0' },
      { host, stateDir, stateDirFromEnv: false, packageRoot: '/p/' },
    );
    assert.deepEqual(
      report.conflists.map((c) => c.network),
      ['fan-251'],
    );
    assert.equal(
      (JSON.parse(await readFile(report.conflists[0]?.path ?? '', 'utf8')) as { cniVersion: string }).cniVersion,
      '1.1.0',
    );
    assert.doesNotMatch(await readFile(report.plugin, 'utf8'), /FAN_STATE_DIR:=/);
  });

  it('refuses when no fan (or not the named one) is up, and unknown versions', async () => {
    const none = await setup([]);
    await assert.rejects(
      cniInstallCommand(
        { dir: join(none.dir, 'b'), confDir: join(none.dir, 'c') },
        { host, stateDir: none.stateDir, stateDirFromEnv: false, packageRoot: '/p/' },
      ),
      /no fan is up on this host/,
    );
    const one = await setup([['-o', '250.0.0.0/8', '-u', '172.16.0.0/16']]);
    const deps = { host, stateDir: one.stateDir, stateDirFromEnv: false, packageRoot: '/p/' };
    await assert.rejects(
      cniInstallCommand({ dir: join(one.dir, 'b'), confDir: join(one.dir, 'c'), overlay: '240.0.0.0/8' }, deps),
      /no fan with overlay 240\.0\.0\.0\/8 is up/,
    );
    await assert.rejects(
      cniInstallCommand({ dir: join(one.dir, 'b'), confDir: join(one.dir, 'c'), cniVersion: '0.3.1' }, deps),
      /--cni-version 0\.3\.1 is not supported/,
    );
  });

  it('quotes paths in the wrapper', () => {
    const text = renderWrapper({ node: "/opt/it's/node", entry: '/x y/fan-cni.js', stateDir: '/run/$odd' });
    assert.match(text, /exec '\/opt\/it'\\''s\/node' '\/x y\/fan-cni\.js' "\$@"/);
    assert.match(text, /FAN_STATE_DIR:=\/run\/\\\$odd/);
  });

  it('hands the call to an installed forwarder when it is executable, else to node', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fan-wrapper-'));
    try {
      const forwarder = join(dir, 'fan-cni-forward');
      const wrapper = join(dir, 'fan');
      const text = renderWrapper({ node: '/bin/echo', entry: 'node-plugin', forwarder });
      await writeFile(wrapper, text, { mode: 0o755 });
      const run = (): string => execFileSync(wrapper, [], { encoding: 'utf8' }).trim();
      assert.equal(run(), 'node-plugin', 'no forwarder installed: the Node entry');
      await writeFile(forwarder, '#!/bin/sh\necho "forwarder, fallback: $*"\n', { mode: 0o755 });
      assert.equal(run(), 'forwarder, fallback: /bin/echo node-plugin');
      await chmod(forwarder, 0o644);
      assert.equal(run(), 'node-plugin', 'a forwarder that is not executable is not used');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("writes the forwarder's settings into its settings area, and refuses a binary without one", () => {
    const area = Buffer.concat([Buffer.from(FORWARDER_MARKER), Buffer.alloc(4096 - FORWARDER_MARKER.length)]);
    const head = Buffer.from('ELF head');
    const binary = Buffer.concat([head, area, Buffer.from('tail')]);
    const out = configureForwarder(binary, { node: '/usr/bin/node', entry: '/x y/fan-cni.js', stateDir: '/run/lab' });
    assert.equal(out.length, binary.length, 'same size: only the area changes');
    assert.ok(out.subarray(0, head.length).equals(head) && out.subarray(-4).equals(Buffer.from('tail')));
    const area2 = out.subarray(head.length, head.length + 4096);
    const text = area2.subarray(0, area2.indexOf(0)).toString('latin1');
    assert.equal(
      text,
      `${FORWARDER_MARKER}FAN_STATE_DIR:=/run/lab\nFALLBACK=/usr/bin/node\nFALLBACK=/x y/fan-cni.js\n`,
    );
    assert.throws(
      () => configureForwarder(Buffer.from('no area'), { node: 'n', entry: 'e' }),
      /no \(or more than one\) settings area/,
    );
    assert.throws(() => configureForwarder(binary, { node: 'n\nx', entry: 'e' }), /newline/);
  });
});

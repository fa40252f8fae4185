import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FanNotUpError } from '../core/attach/plan.js';
import { ConfigError, FanError } from '../core/errors.js';
import { IpamError } from '../core/ipam/allocator.js';
import { SandboxGoneError } from '../app/attach.js';
import { type AttachmentContext, type CniPlugin, type SandboxContext, runCni } from './dispatcher.js';
import type { NetConf } from './netconf.js';
import type { CniResult } from './protocol.js';

const RESULT: CniResult = {
  interfaces: [
    { name: 'fan01234567', mac: '02:00:00:00:00:01', mtu: 1450 },
    { name: 'eth0', mac: '02:00:00:00:00:02', mtu: 1450, sandbox: '/var/run/netns/c1' },
  ],
  ips: [{ address: '250.3.4.2/24', gateway: '250.3.4.1', interface: 1 }],
  routes: [{ dst: '0.0.0.0/0', gw: '250.3.4.1' }],
  dns: {},
};

interface Calls {
  add: SandboxContext[];
  del: AttachmentContext[];
  check: SandboxContext[];
  status: NetConf[];
  gc: NetConf[];
}

/** A plugin that records its calls and fails with `fail` when given. */
function fakePlugin(fail?: unknown): { plugin: CniPlugin; calls: Calls } {
  const calls: Calls = { add: [], del: [], check: [], status: [], gc: [] };
  const maybeFail = (): void => {
    if (fail !== undefined) throw fail;
  };
  return {
    calls,
    plugin: {
      add: (ctx) => (calls.add.push(ctx), maybeFail(), Promise.resolve(RESULT)),
      del: (ctx) => (calls.del.push(ctx), maybeFail(), Promise.resolve()),
      check: (ctx) => (calls.check.push(ctx), maybeFail(), Promise.resolve()),
      status: (conf) => (calls.status.push(conf), maybeFail(), Promise.resolve()),
      gc: (conf) => (calls.gc.push(conf), maybeFail(), Promise.resolve()),
    },
  };
}

const ENV = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/var/run/netns/c1',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
};
const conf = (extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ cniVersion: '1.1.0', name: 'fannet', type: 'fan', ...extra });

async function invoke(
  env: Record<string, string | undefined>,
  stdin: string,
  plugin: CniPlugin = fakePlugin().plugin,
): Promise<{ code: number; stdout: string; stderr: string; json: Record<string, unknown> | undefined }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCni({ env, stdin, stdout: (t) => void out.push(t), stderr: (t) => void err.push(t) }, plugin);
  const stdout = out.join('');
  return {
    code,
    stdout,
    stderr: err.join(''),
    json: stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : undefined,
  };
}

describe('CNI dispatcher: verbs', () => {
  it('VERSION lists the supported versions, whatever the input', async () => {
    for (const stdin of ['{"cniVersion":"1.0.0"}', '']) {
      const r = await invoke({ CNI_COMMAND: 'VERSION' }, stdin);
      assert.equal(r.code, 0);
      assert.deepEqual(r.json, { cniVersion: '1.1.0', supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] });
    }
  });

  it('ADD passes the environment and parsed config, and prints the result', async () => {
    const { plugin, calls } = fakePlugin();
    const r = await invoke(
      { ...ENV, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=x;IP=250.3.4.9' },
      conf({ overlay: '250.0.0.0/8', mtu: 1400 }),
      plugin,
    );
    assert.equal(r.code, 0, r.stdout);
    const ctx = calls.add[0];
    assert.ok(ctx);
    assert.equal(ctx.containerId, 'c1');
    assert.equal(ctx.netns, '/var/run/netns/c1');
    assert.equal(ctx.ifname, 'eth0');
    assert.equal(ctx.conf.overlay, '250.0.0.0/8');
    assert.equal(ctx.conf.mtu, 1400);
    assert.equal(ctx.conf.requestedIp, 0xfa030409);
    assert.deepEqual(r.json, { cniVersion: '1.1.0', ...RESULT });
  });

  it("writes the result in the configuration's version", async () => {
    const v040 = (await invoke(ENV, conf({ cniVersion: '0.4.0' }))).json;
    assert.deepEqual(v040?.ips, [{ version: '4', address: '250.3.4.2/24', gateway: '250.3.4.1', interface: 1 }]);
    assert.deepEqual(v040?.interfaces, [
      { name: 'fan01234567', mac: '02:00:00:00:00:01' },
      { name: 'eth0', mac: '02:00:00:00:00:02', sandbox: '/var/run/netns/c1' },
    ]);
    assert.equal(v040?.cniVersion, '0.4.0');
    const v100 = (await invoke(ENV, conf({ cniVersion: '1.0.0' }))).json;
    assert.deepEqual(v100?.ips, RESULT.ips);
    assert.equal((v100?.interfaces as { mtu?: number }[])[1]?.mtu, undefined);
    const v110 = (await invoke(ENV, conf())).json;
    assert.equal((v110?.interfaces as { mtu?: number }[])[1]?.mtu, 1450);
  });

  it('DEL, CHECK, STATUS and GC print nothing on success', async () => {
    const { plugin, calls } = fakePlugin();
    for (const command of ['DEL', 'CHECK', 'STATUS', 'GC']) {
      const r = await invoke(
        { ...ENV, CNI_COMMAND: command },
        conf({ 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] }),
        plugin,
      );
      assert.equal(r.code, 0, command);
      assert.equal(r.stdout, '');
    }
    assert.deepEqual(calls.gc[0]?.validAttachments, [{ containerId: 'c1', ifname: 'eth0' }]);
    assert.equal(calls.del.length + calls.check.length + calls.status.length, 3);
  });

  it('DEL works without CNI_NETNS; STATUS and GC need no container', async () => {
    const { plugin, calls } = fakePlugin();
    assert.equal(
      (await invoke({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0' }, conf(), plugin)).code,
      0,
    );
    assert.equal(calls.del[0]?.netns, undefined);
    assert.equal((await invoke({ CNI_COMMAND: 'STATUS' }, conf(), plugin)).code, 0);
    assert.equal((await invoke({ CNI_COMMAND: 'GC' }, conf({ 'cni.dev/attachments': [] }), plugin)).code, 0);
    assert.deepEqual(calls.gc[0]?.validAttachments, []);
  });

  it('passes prevResult through, whatever its version', async () => {
    const { plugin, calls } = fakePlugin();
    const prev = {
      cniVersion: '0.4.0',
      interfaces: [{ name: 'eth0', sandbox: '/x' }],
      ips: [{ version: '4', address: '250.3.4.2/24', interface: 0 }],
    };
    await invoke({ ...ENV, CNI_COMMAND: 'CHECK' }, conf({ prevResult: prev }), plugin);
    assert.deepEqual(calls.check[0]?.conf.prevResult, {
      interfaces: [{ name: 'eth0', sandbox: '/x' }],
      ips: [{ address: '250.3.4.2/24', interface: 0 }],
      routes: [],
      dns: {},
    });
  });
});

describe('CNI dispatcher: errors', () => {
  async function errorOf(
    env: Record<string, string | undefined>,
    stdin: string,
    plugin?: CniPlugin,
  ): Promise<{ cniVersion: string; code: number; msg: string; details?: string }> {
    const r = await invoke(env, stdin, plugin);
    assert.notEqual(r.code, 0);
    assert.ok(r.json, 'an error document on stdout');
    assert.match(r.stderr, /fan-cni: /);
    return r.json as { cniVersion: string; code: number; msg: string; details?: string };
  }

  it('invalid environment: code 4', async () => {
    assert.equal((await errorOf({}, conf())).code, 4);
    assert.equal((await errorOf({ CNI_COMMAND: 'FROB' }, conf())).msg, 'CNI_COMMAND "FROB" is unknown');
    assert.equal(
      (await errorOf({ ...ENV, CNI_CONTAINERID: undefined }, conf())).msg,
      'CNI_CONTAINERID is required for ADD',
    );
    assert.equal((await errorOf({ ...ENV, CNI_IFNAME: '' }, conf())).msg, 'CNI_IFNAME is required for ADD');
    assert.equal((await errorOf({ ...ENV, CNI_IFNAME: 'a/b' }, conf())).code, 4);
    assert.equal((await errorOf({ ...ENV, CNI_NETNS: undefined }, conf())).msg, 'CNI_NETNS is required for ADD');
    assert.equal((await errorOf({ ...ENV, CNI_NETNS: 'relative' }, conf())).code, 4);
    assert.equal((await errorOf({ ...ENV, CNI_ARGS: 'novalue' }, conf())).code, 4);
  });

  it('undecodable configuration: code 6; invalid configuration: code 7', async () => {
    assert.equal((await errorOf(ENV, 'not json')).code, 6);
    const bad = await errorOf(ENV, conf({ type: 'bridge', name: '-bad' }));
    assert.equal(bad.code, 7);
    assert.match(bad.msg, /name: name must start with a letter or digit/);
    assert.match(bad.msg, /type: type must be "fan"/);
    assert.match(
      (await errorOf(ENV, conf({ ipam: { type: 'host-local' } }))).details ?? '',
      /fan allocates each container an address/,
    );
    assert.equal((await errorOf(ENV, conf({ mtu: 'big' }))).code, 7);
    assert.equal((await errorOf({ ...ENV, CNI_ARGS: 'IP=250.3.4.300' }, conf())).code, 7);
    assert.match(
      (await errorOf({ ...ENV, CNI_ARGS: 'IP=250.3.4.9' }, conf({ runtimeConfig: { ips: ['250.3.4.10/24'] } }))).msg,
      /more than one static address/,
    );
    assert.equal((await errorOf(ENV, conf({ bridge: 'has space' }))).code, 7);
    assert.equal((await errorOf(ENV, conf({ prevResult: { ips: 'x' } }))).code, 6);
  });

  it('unsupported version: code 1, answered in that version', async () => {
    const e = await errorOf(ENV, conf({ cniVersion: '0.3.1' }));
    assert.equal(e.code, 1);
    assert.equal(e.cniVersion, '0.3.1');
    assert.match(e.details ?? '', /0\.4\.0, 1\.0\.0, 1\.1\.0/);
  });

  it('maps fan errors to CNI codes', async () => {
    const cases: [unknown, number][] = [
      [new SandboxGoneError('netns gone'), 3],
      [new IpamError('exhausted', 'full', 'hint', 253), 11],
      [new IpamError('exhausted', 'dhcp covers all', 'hint', 0), 7],
      [new IpamError('outside', 'outside slice 250.3.4.0/24', 'hint', 253), 7],
      [new IpamError('taken', 'taken', 'hint', 253), 7],
      [new FanNotUpError('no fan', 'up one', false), 11],
      [new ConfigError('bad overlay'), 7],
      [new FanError('kernel said no'), 999],
      [new TypeError('boom'), 999],
    ];
    for (const [error, code] of cases) {
      const e = await errorOf(ENV, conf(), fakePlugin(error).plugin);
      assert.equal(e.code, code, String(error));
      assert.equal(e.cniVersion, '1.1.0');
    }
  });
});

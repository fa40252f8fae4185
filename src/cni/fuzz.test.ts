/**
 * A corpus of bad CNI invocations (environment and stdin) run through the dispatcher and the real plugin, with a
 * fake kernel and a lease table in a temp state dir. Every one must fail with a CNI error document whose code is a
 * specific one (never 999, the "unknown" code), whose `msg` names the problem and whose `details` give the fix,
 * without a stack trace, and must leave nothing behind: no link created or deleted, the lease table as it was.
 */
import { FakeBinder } from '../testing/port-binder.js';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseFanWords } from '../core/config/fan-spec.js';
import { type Fan, resolveFans } from '../core/config/resolve.js';
import type { InterfaceFacts, RouteFacts } from '../core/model/host-facts.js';
import { hostFacts, iface, typicalHost } from '../testing/builders.js';
import type { SandboxLinks } from '../ports/sandbox.js';
import { poolOf } from '../core/ipam/pool.js';
import { FileLeaseStore, leaseFilePath, openLeaseStore } from '../store/lease-file.js';
import { runCni } from './dispatcher.js';
import { fanCniPlugin } from './plugin.js';

const NETNS = '/var/run/netns/c1';
const ENV = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: NETNS,
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
};
const CONF = { cniVersion: '1.1.0', name: 'fannet', type: 'fan' };
const conf = (extra: Record<string, unknown>): string => JSON.stringify({ ...CONF, ...extra });
const GOOD = JSON.stringify(CONF);

/** A kernel with one namespace and the fan bridge, that records every change asked of it. */
class RecordingLinks implements SandboxLinks {
  readonly changes: string[] = [];
  netnsExists(netns: string): Promise<boolean> {
    return Promise.resolve(netns === NETNS);
  }
  createAttachedVeth(req: { hostIf: string }): Promise<{ host: InterfaceFacts; container: InterfaceFacts }> {
    this.changes.push(`createAttachedVeth ${req.hostIf}`);
    return Promise.reject(new Error('the corpus must not create links'));
  }
  containerLink(): Promise<InterfaceFacts | undefined> {
    return Promise.resolve(undefined);
  }
  containerRoutes(): Promise<RouteFacts[]> {
    return Promise.resolve([]);
  }
  hostLink(): Promise<InterfaceFacts | undefined> {
    return Promise.resolve(undefined);
  }
  hostLinks(): Promise<InterfaceFacts[]> {
    return Promise.resolve([]);
  }
  deleteHostLink(name: string): Promise<boolean> {
    this.changes.push(`delete ${name}`);
    return Promise.resolve(false);
  }
}

type Env = Record<string, string | undefined>;
/** [what, environment, stdin, the CNI code, what msg must say]. */
type Case = readonly [label: string, env: Env, stdin: string, code: number, problem: RegExp];

const ifnameCases: readonly [string, RegExp][] = [
  ['eth"0', /contains """/],
  ['eth\\0', /contains "\\"/],
  ['eth#0', /contains "#"/],
  ["'eth0", /starts with "'"/],
  ['ééééééééé', /18 bytes long; Linux allows at most 15 bytes/],
  ['abcdefghijklmnop', /16 bytes long/],
  ['eth/0', /contains "\/"/],
  ['eth:0', /contains ":"/],
  ['eth 0', /white space/],
  ['eth\t0', /white space/],
  ['eth\n0', /white space/],
  ['eth\x01', /control character/],
  ['.', /reserved by Linux/],
  ['..', /reserved by Linux/],
  ['help', /keyword "help"/],
  ['h', /keyword "help"/],
  ['mtu', /keyword "mtu"/],
  ['dev', /keyword "dev"/],
  ['type', /keyword "type"/],
  ['a', /keyword "address"/],
  ['-eth0', /starts with "-"/],
];

const CASES: readonly Case[] = [
  // the environment
  ['no CNI_COMMAND', { ...ENV, CNI_COMMAND: undefined }, GOOD, 4, /CNI_COMMAND is not set/],
  ['unknown CNI_COMMAND', { ...ENV, CNI_COMMAND: 'FOO' }, GOOD, 4, /CNI_COMMAND "FOO" is unknown/],
  ['lower-case CNI_COMMAND', { ...ENV, CNI_COMMAND: 'add' }, GOOD, 4, /CNI_COMMAND "add" is unknown/],
  [
    'ADD without CNI_CONTAINERID',
    { ...ENV, CNI_CONTAINERID: undefined },
    GOOD,
    4,
    /CNI_CONTAINERID is required for ADD/,
  ],
  [
    'DEL without CNI_CONTAINERID',
    { ...ENV, CNI_COMMAND: 'DEL', CNI_CONTAINERID: '' },
    GOOD,
    4,
    /CNI_CONTAINERID is required for DEL/,
  ],
  [
    'CNI_CONTAINERID with a space',
    { ...ENV, CNI_CONTAINERID: 'a b' },
    GOOD,
    4,
    /CNI_CONTAINERID "a b" is not a valid container id/,
  ],
  ['CNI_CONTAINERID with a path', { ...ENV, CNI_CONTAINERID: '../../x' }, GOOD, 4, /is not a valid container id/],
  ['CNI_CONTAINERID starting with "-"', { ...ENV, CNI_CONTAINERID: '-x' }, GOOD, 4, /is not a valid container id/],
  [
    'CNI_CONTAINERID of 2000 characters',
    { ...ENV, CNI_CONTAINERID: 'x'.repeat(2000) },
    GOOD,
    4,
    /CNI_CONTAINERID is 2000 characters long/,
  ],
  [
    'DEL with a bad CNI_CONTAINERID',
    { ...ENV, CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'a;b' },
    GOOD,
    4,
    /is not a valid container id/,
  ],
  ['ADD without CNI_IFNAME', { ...ENV, CNI_IFNAME: undefined }, GOOD, 4, /CNI_IFNAME is required for ADD/],
  ...ifnameCases.map(
    ([name, rule]): Case => [
      `CNI_IFNAME ${JSON.stringify(name)}`,
      { ...ENV, CNI_IFNAME: name },
      GOOD,
      4,
      new RegExp(`CNI_IFNAME .* is not a usable interface name: .*${rule.source}`),
    ],
  ),
  ['DEL with CNI_IFNAME "eth#0"', { ...ENV, CNI_COMMAND: 'DEL', CNI_IFNAME: 'eth#0' }, GOOD, 4, /contains "#"/],
  ['CHECK with CNI_IFNAME "help"', { ...ENV, CNI_COMMAND: 'CHECK', CNI_IFNAME: 'help' }, GOOD, 4, /keyword "help"/],
  ['ADD without CNI_NETNS', { ...ENV, CNI_NETNS: undefined }, GOOD, 4, /CNI_NETNS is required for ADD/],
  [
    'CHECK without CNI_NETNS',
    { ...ENV, CNI_COMMAND: 'CHECK', CNI_NETNS: '' },
    GOOD,
    4,
    /CNI_NETNS is required for CHECK/,
  ],
  ['relative CNI_NETNS', { ...ENV, CNI_NETNS: 'netns/c1' }, GOOD, 4, /CNI_NETNS "netns\/c1" is not an absolute path/],
  [
    'CNI_ARGS entry without "="',
    { ...ENV, CNI_ARGS: 'IgnoreUnknown=1;IP' },
    GOOD,
    4,
    /CNI_ARGS entry "IP" is not KEY=VALUE/,
  ],
  ['CNI_ARGS entry without a key', { ...ENV, CNI_ARGS: '=x' }, GOOD, 4, /CNI_ARGS entry "=x" is not KEY=VALUE/],
  [
    'CNI_ARGS IP out of range',
    { ...ENV, CNI_ARGS: 'IP=300.1.1.1' },
    GOOD,
    7,
    /CNI_ARGS IP "300\.1\.1\.1" is not an IPv4 address/,
  ],
  ['CNI_ARGS IP not an address', { ...ENV, CNI_ARGS: 'IP=abc' }, GOOD, 7, /CNI_ARGS IP "abc" is not an IPv4 address/],
  [
    'CNI_ARGS two IPs',
    { ...ENV, CNI_ARGS: 'IP=250.3.4.9,250.3.4.10' },
    GOOD,
    7,
    /more than one static address requested/,
  ],
  ['CNI_ARGS IP outside the slice', { ...ENV, CNI_ARGS: 'IP=250.9.9.9' }, GOOD, 7, /250\.3\.4\.0\/24/],
  ['CNI_ARGS IP taken', { ...ENV, CNI_ARGS: 'IP=250.3.4.2' }, GOOD, 7, /250\.3\.4\.2/],
  ['CNI_ARGS IP is the gateway', { ...ENV, CNI_ARGS: 'IP=250.3.4.1' }, GOOD, 7, /250\.3\.4\.1/],
  ['CNI_ARGS IP is the broadcast', { ...ENV, CNI_ARGS: 'IP=250.3.4.255' }, GOOD, 7, /250\.3\.4\.255/],
  // stdin
  ['empty stdin', ENV, '', 6, /the network configuration on stdin is not JSON/],
  ['stdin is not JSON', ENV, 'not json', 6, /is not JSON/],
  ['stdin has a byte-order mark', ENV, `\ufeff${GOOD}`, 6, /is not JSON/],
  ['stdin is cut short', ENV, GOOD.slice(0, -3), 6, /is not JSON/],
  ['stdin nests 100000 arrays', ENV, '['.repeat(100_000), 6, /is not JSON/],
  ['stdin is an array', ENV, '[]', 7, /invalid network configuration/],
  ['stdin is null', ENV, 'null', 7, /invalid network configuration/],
  ['stdin is a string', ENV, '"fan"', 7, /invalid network configuration/],
  ['stdin is an empty object', ENV, '{}', 7, /cniVersion is required/],
  ['no cniVersion', ENV, JSON.stringify({ name: 'n', type: 'fan' }), 7, /cniVersion is required/],
  ['cniVersion 9.9.9', ENV, conf({ cniVersion: '9.9.9' }), 1, /CNI version 9\.9\.9 is not supported/],
  ['cniVersion 0.3.1', ENV, conf({ cniVersion: '0.3.1' }), 1, /CNI version 0\.3\.1 is not supported/],
  ['cniVersion a number', ENV, conf({ cniVersion: 1 }), 7, /cniVersion/],
  ['no name', ENV, JSON.stringify({ cniVersion: '1.1.0', type: 'fan' }), 7, /name is required/],
  ['name with a space', ENV, conf({ name: 'bad name' }), 7, /name must start with a letter or digit/],
  ['name with a path', ENV, conf({ name: '../x' }), 7, /name must start with a letter or digit/],
  ['name empty', ENV, conf({ name: '' }), 7, /name must start/],
  ['type bridge', ENV, conf({ type: 'bridge' }), 7, /type must be "fan"/],
  ['no type', ENV, JSON.stringify({ cniVersion: '1.1.0', name: 'n' }), 7, /type must be "fan"/],
  ['an ipam section', ENV, conf({ ipam: { type: 'host-local' } }), 7, /does not take an "ipam" section/],
  ['mtu a string', ENV, conf({ mtu: 'big' }), 7, /mtu/],
  ['mtu a fraction', ENV, conf({ mtu: 1.5 }), 7, /mtu/],
  ['mtu above the fan MTU', ENV, conf({ mtu: 65000 }), 7, /mtu 65000 is not usable on fan-250/],
  ['mtu below 68', ENV, conf({ mtu: 10 }), 7, /mtu 10 is not usable/],
  ['bridge "help"', ENV, conf({ bridge: 'help' }), 7, /bridge "help" is not a valid interface name: ip reads "help"/],
  ['bridge with "/"', ENV, conf({ bridge: 'a/b' }), 7, /bridge "a\/b" is not a valid interface name/],
  ['bridge of 20 bytes', ENV, conf({ bridge: 'x'.repeat(20) }), 7, /20 bytes long/],
  ['bridge empty', ENV, conf({ bridge: '' }), 7, /bridge/],
  ['bridge a number', ENV, conf({ bridge: 250 }), 7, /bridge/],
  ['overlay an object', ENV, conf({ overlay: {} }), 7, /overlay/],
  ['overlay not an address', ENV, conf({ overlay: '300.0.0.0/8' }), 7, /300\.0\.0\.0/],
  ['prevResult malformed', ENV, conf({ prevResult: { interfaces: 'x' } }), 6, /prevResult is malformed/],
  [
    'runtimeConfig.ips not an address',
    ENV,
    conf({ runtimeConfig: { ips: ['abc'] } }),
    7,
    /runtimeConfig\.ips entry "abc" is not an IPv4 address/,
  ],
  ['runtimeConfig.ips not a list', ENV, conf({ runtimeConfig: { ips: 'abc' } }), 7, /runtimeConfig/],
  [
    'args.cni.ips two addresses',
    ENV,
    conf({ args: { cni: { ips: ['250.3.4.9', '250.3.4.10'] } } }),
    7,
    /more than one static address/,
  ],
  ['capabilities not booleans', ENV, conf({ capabilities: { ips: 'yes' } }), 7, /capabilities/],
  ['GC without valid-attachments', { CNI_COMMAND: 'GC' }, GOOD, 7, /GC needs "cni\.dev\/valid-attachments"/],
  [
    'GC with malformed valid-attachments',
    { CNI_COMMAND: 'GC' },
    conf({ 'cni.dev/valid-attachments': [{ containerID: 1 }] }),
    7,
    /valid-attachments/,
  ],
  ['CHECK without prevResult', { ...ENV, CNI_COMMAND: 'CHECK' }, GOOD, 7, /CHECK needs prevResult/],
  [
    'CHECK with a prevResult lacking the interface',
    { ...ENV, CNI_COMMAND: 'CHECK' },
    conf({ prevResult: { interfaces: [], ips: [], routes: [] } }),
    7,
    /prevResult has no container interface named eth0/,
  ],
  [
    'CHECK with a malformed prevResult address',
    { ...ENV, CNI_COMMAND: 'CHECK' },
    conf({
      prevResult: {
        interfaces: [{ name: 'eth0', sandbox: NETNS }],
        ips: [{ address: 'x/24', interface: 0 }],
        routes: [],
      },
    }),
    6,
    /prevResult address "x\/24" is malformed/,
  ],
  // the host
  [
    'ADD into a namespace that does not exist',
    { ...ENV, CNI_NETNS: '/var/run/netns/gone' },
    GOOD,
    3,
    /network namespace \/var\/run\/netns\/gone of container c1 does not exist/,
  ],
  [
    'ADD to a fan that is not up',
    ENV,
    conf({ overlay: '240.0.0.0/8' }),
    11,
    /no fan with overlay 240\.0\.0\.0\/8 is up/,
  ],
  ['ADD to a bridge that is not up', ENV, conf({ bridge: 'fan-9' }), 11, /fan-9/],
  [
    'STATUS of a fan that is not up',
    { CNI_COMMAND: 'STATUS' },
    conf({ overlay: '240.0.0.0/8' }),
    50,
    /no fan with overlay 240\.0\.0\.0\/8 is up/,
  ],
];

describe('CNI fuzz corpus: bad environments and configurations', () => {
  let dir = '';
  let leaseFile = '';
  let leasesBefore = '';
  let fans: Fan[] = [];
  const links = new RecordingLinks();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fanhd-cnifuzz-'));
    fans = resolveFans([parseFanWords(['-o', '250.0.0.0/8', '-u', '172.16.0.0/16'])], typicalHost());
    const fan = fans[0] as Fan;
    // One container is attached already; the corpus must leave its lease alone.
    await openLeaseStore(dir, fan).allocate('cni:fannet:other', 'eth0');
    leaseFile = leaseFilePath(dir, fan.bridge);
    leasesBefore = await readFile(leaseFile, 'utf8');
  });

  after(() => rm(dir, { recursive: true, force: true }));

  const bridge = iface('fan-250', ['250.3.4.1/24'], {
    alias: 'fan: bridge of fan 250.0.0.0/8',
    kind: 'bridge',
    mtu: 1450,
  });
  const run = async (
    env: Env,
    stdin: string,
    lockWaitMs?: number,
  ): Promise<{ exit: number; stdout: string; stderr: string }> => {
    const out: string[] = [];
    const err: string[] = [];
    const wait = lockWaitMs === undefined ? undefined : { allocateMs: lockWaitMs, releaseMs: lockWaitMs };
    const plugin = fanCniPlugin({
      fans: () =>
        Promise.resolve({ fans, facts: hostFacts([...typicalHost().interfaces, bridge], typicalHost().routes) }),
      leases: (fan) => (wait ? new FileLeaseStore(leaseFile, poolOf(fan), undefined, wait) : openLeaseStore(dir, fan)),
      allLeaseStores: () => Promise.resolve([new FileLeaseStore(leaseFile, undefined, undefined, wait)]),
      links,
      bindings: new FakeBinder(),
      log: (line) => void err.push(`${line}\n`),
    });
    const exit = await runCni({ env, stdin, stdout: (t) => void out.push(t), stderr: (t) => void err.push(t) }, plugin);
    return { exit, stdout: out.join(''), stderr: err.join('') };
  };

  it(`holds at least 60 bad CNI invocations (${CASES.length})`, () => assert.ok(CASES.length >= 60));

  for (const [label, env, stdin, code, problem] of CASES) {
    it(`${label} → code ${code}`, async () => {
      const r = await run(env, stdin);
      assert.equal(r.exit, 1, `${label}: exit code`);
      const doc = JSON.parse(r.stdout) as { cniVersion: string; code: number; msg: string; details?: string };
      assert.equal(doc.code, code, `${label}: ${r.stdout}`);
      assert.notEqual(doc.code, 999);
      assert.match(doc.msg, problem, `${label}: msg names the problem`);
      assert.ok(doc.details !== undefined && doc.details.trim() !== '', `${label}: details give the fix: ${r.stdout}`);
      assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at .*[(:]\d+/, `${label}: no stack trace`);
      assert.match(
        r.stderr,
        /^fan-cni: .* failed \(code \d+\): .*\n {2}fix: \S/,
        `${label}: one readable line and its fix on stderr`,
      );
      assert.deepEqual(links.changes, [], `${label}: no link created or deleted`);
      assert.equal(await readFile(leaseFile, 'utf8'), leasesBefore, `${label}: the lease table is unchanged`);
      assert.deepEqual(await readdir(join(dir, 'ipam')), ['fan-250.json'], `${label}: no lock or temp file left`);
    });
  }

  it('a busy IPAM lock is code 11 with a clear message for ADD and for DEL, and the lease stands', async () => {
    const lock = `${leaseFile}.lock`;
    await mkdir(lock);
    await writeFile(join(lock, 'pid'), String(process.pid)); // a live holder: this process
    try {
      for (const command of ['ADD', 'DEL']) {
        const r = await run({ ...ENV, CNI_COMMAND: command, CNI_CONTAINERID: 'other' }, GOOD, 150);
        const doc = JSON.parse(r.stdout) as { code: number; msg: string; details?: string };
        assert.equal(doc.code, 11, r.stdout);
        assert.match(
          doc.msg,
          new RegExp(`lock .*fan-250\\.json\\.lock is busy: still held by pid ${process.pid} after waiting`),
        );
        assert.match(doc.details ?? '', /try again later/);
        assert.equal(await readFile(leaseFile, 'utf8'), leasesBefore, `${command}: the lease table is unchanged`);
      }
    } finally {
      await rm(lock, { recursive: true, force: true });
    }
    // Once the lock is free, the same DEL releases the lease (and the corpus' table is restored afterwards).
    const del = await run({ ...ENV, CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'other' }, GOOD);
    assert.equal(del.exit, 0, del.stdout);
    assert.equal(JSON.parse(await readFile(leaseFile, 'utf8')).leases.length, 0);
    assert.deepEqual(links.changes, []);
  });
});

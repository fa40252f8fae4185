/**
 * 500 concurrent CNI ADDs, then 500 DELs, on one lab host, through the real plugin (as a runtime runs it), 64 in
 * flight so they contend on the IPAM lock: no duplicate address, nothing left afterwards (host veths, leases, lock
 * or temp files), never code 999. A busy lock is code 11, which the test retries as a runtime would, and counts.
 * Everything is named `fanhdload-…` and removed by labDown, also when the test fails.
 */
import assert from 'node:assert/strict';
import { readFile, readdir, stat } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Cidr, contains, formatCidr, parseCidr } from '../../src/core/address/ipv4.js';
import { ExecRunner } from '../../src/kernel/exec.js';
import { pooled } from '../../src/lab/check.js';
import { fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { DEFAULT_LAB, type LabHost, type LabTopology } from '../../src/lab/topology.js';
import { type CniCall, type CniOutcome, execFanCni } from '../lab/cni-runtime.js';

const NAME = 'fanhdload';
const CONTAINERS = 500;
const IN_FLIGHT = 64;
/** A runtime gives up on a container after a while too; this bounds the test. */
const MAX_TRIES = 30;
const NETWORK = 'load';
const root = new ExecRunner();

const conf = { cniVersion: '1.0.0', name: NETWORK, type: 'fan' };

interface Box {
  readonly ns: string;
  readonly path: string;
  readonly id: string;
}

interface Tally {
  retried11: number;
  codes: Map<number | 'none', number>;
}

const codeOf = (out: CniOutcome): number | undefined =>
  typeof out.json?.code === 'number' ? out.json.code : undefined;

/** One CNI call, retried on code 11 the way a runtime retries a "try again later". */
async function callRetrying(host: LabHost, call: CniCall, tally: Tally): Promise<CniOutcome> {
  for (let attempt = 1; ; attempt++) {
    const out = await execFanCni(host, call, conf, 300_000);
    if (out.exitCode === 0) return out;
    const code = codeOf(out) ?? 'none';
    tally.codes.set(code, (tally.codes.get(code) ?? 0) + 1);
    if (code !== 11 || attempt >= MAX_TRIES) return out;
    tally.retried11++;
    await sleep(100 + Math.floor(Math.random() * 400));
  }
}

describe('500 concurrent CNI ADDs and DELs on one host', { timeout: 3_600_000 }, () => {
  let topo: LabTopology;
  let host: LabHost;
  const boxes: Box[] = [];

  before(async () => {
    await labDown(NAME);
    // A /20 underlay gives each host a /20 slice of 250.0.0.0/8: room for 500 containers.
    topo = await labUp({ ...DEFAULT_LAB, name: NAME, hosts: 1, containers: 0, underlay: '172.16.0.0/20' });
    const h = topo.hosts[0];
    assert.ok(h);
    host = h;
    const stamp = Date.now().toString(16);
    for (let i = 0; i < CONTAINERS; i++) {
      const ns = `${NAME}-x${i}`;
      boxes.push({ ns, path: `/var/run/netns/${ns}`, id: `load${i}x${stamp}` });
    }
    await pooled(
      boxes.map((b) => () => root.run(['ip', 'netns', 'add', b.ns])),
      8,
    );
  });

  after(async () => {
    await labDown(NAME);
    const left = (await root.run(['ip', 'netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(`${NAME}-`));
    assert.deepEqual(left, [], 'labDown removed every namespace of the lab');
  });

  const slice = async (): Promise<Cidr> => {
    const status = JSON.parse((await fanctl(host, ['show', '--json'])).stdout) as {
      fans: { bridge: string; slice: string }[];
    };
    const fan = status.fans.find((f) => f.bridge === 'fan-250');
    assert.ok(fan, 'fan-250 is up');
    return parseCidr(fan.slice);
  };
  const leaseFile = (): string => `${host.stateDir}/ipam/fan-250.json`;
  const ourLeases = async (): Promise<{ address: string; owner: string }[]> =>
    (JSON.parse(await readFile(leaseFile(), 'utf8')) as { leases: { address: string; owner: string }[] }).leases.filter(
      (l) => l.owner.startsWith(`cni:${NETWORK}:`),
    );
  const ourVeths = async (): Promise<string[]> =>
    (
      JSON.parse((await root.run(['ip', '-n', host.ns, '-json', '-details', 'link', 'show'])).stdout) as {
        ifname: string;
        ifalias?: string;
      }[]
    )
      .filter((l) => l.ifalias?.startsWith(`fan: cni ${NETWORK} `))
      .map((l) => l.ifname);

  it(`${CONTAINERS} ADDs (${IN_FLIGHT} at a time) get distinct addresses; ${CONTAINERS} DELs leave nothing; \
no code 999`, async (t) => {
    const mySlice = await slice();
    assert.ok(
      2 ** (32 - mySlice.prefix) > CONTAINERS + 2,
      `slice ${formatCidr(mySlice)} holds ${CONTAINERS} containers`,
    );
    const call = (command: 'ADD' | 'DEL', b: Box): CniCall => ({
      command,
      containerId: b.id,
      netns: b.path,
      ifname: 'eth0',
    });

    const addTally: Tally = { retried11: 0, codes: new Map() };
    const addStarted = Date.now();
    const adds = await pooled(
      boxes.map((b) => () => callRetrying(host, call('ADD', b), addTally)),
      IN_FLIGHT,
    );
    const addMs = Date.now() - addStarted;
    t.diagnostic(
      `ADD: ${CONTAINERS} in ${addMs} ms; code 11 retried ${addTally.retried11} times; ` +
        `failures by code ${JSON.stringify([...addTally.codes])}`,
    );
    assert.equal(addTally.codes.get(999) ?? 0, 0, 'no ADD answered code 999');
    const failedAdds = adds.filter((r) => r.exitCode !== 0);
    assert.deepEqual(
      failedAdds.map((r) => r.stdout),
      [],
      'every ADD succeeded (after code-11 retries)',
    );
    const addresses = adds.map((r) => {
      const ip = (r.json?.ips as { address: string }[] | undefined)?.[0]?.address;
      assert.ok(ip, `an address in ${r.stdout}`);
      return parseCidr(ip);
    });
    const distinct = new Set(addresses.map((a) => a.address));
    assert.equal(distinct.size, CONTAINERS, `0 duplicate addresses (${CONTAINERS - distinct.size} found)`);
    for (const a of addresses)
      assert.ok(
        contains(mySlice, a.address) && a.address !== mySlice.address + 1,
        `${formatCidr(a)} is a container address of ${formatCidr(mySlice)}`,
      );
    assert.equal((await ourLeases()).length, CONTAINERS, 'one lease per container');
    assert.equal((await ourVeths()).length, CONTAINERS, 'one host veth per container');
    // Each container really has its address.
    for (const i of [0, Math.floor(CONTAINERS / 2), CONTAINERS - 1]) {
      const b = boxes[i] as Box;
      const shown = (await root.run(['ip', '-n', b.ns, '-4', '-o', 'address', 'show', 'dev', 'eth0'])).stdout;
      assert.ok(
        shown.includes(` ${formatCidr(addresses[i] as Cidr)} `),
        `${b.ns} has ${formatCidr(addresses[i] as Cidr)}: ${shown}`,
      );
    }
    // The lease table stays private to root.
    assert.equal((await stat(leaseFile())).mode & 0o777, 0o600, 'lease file is 0600');
    assert.equal((await stat(`${host.stateDir}/ipam`)).mode & 0o777, 0o700, 'IPAM directory is 0700');

    const delTally: Tally = { retried11: 0, codes: new Map() };
    const delStarted = Date.now();
    const dels = await pooled(
      boxes.map((b) => () => callRetrying(host, call('DEL', b), delTally)),
      IN_FLIGHT,
    );
    const delMs = Date.now() - delStarted;
    t.diagnostic(
      `DEL: ${CONTAINERS} in ${delMs} ms; code 11 retried ${delTally.retried11} times; ` +
        `failures by code ${JSON.stringify([...delTally.codes])}`,
    );
    assert.equal(delTally.codes.get(999) ?? 0, 0, 'no DEL answered code 999');
    assert.deepEqual(
      dels.filter((r) => r.exitCode !== 0).map((r) => r.stdout),
      [],
      'every DEL succeeded (after code-11 retries)',
    );
    assert.deepEqual(await ourLeases(), [], '0 leaked leases');
    assert.deepEqual(await ourVeths(), [], '0 leaked host veths');
    // Nothing but the table itself is left in the IPAM directory: no lock, no breaker, no temp file.
    assert.deepEqual(await readdir(`${host.stateDir}/ipam`), ['fan-250.json']);
    for (const i of [0, CONTAINERS - 1]) {
      const b = boxes[i] as Box;
      const links = JSON.parse((await root.run(['ip', '-n', b.ns, '-json', 'link', 'show'])).stdout) as {
        ifname: string;
      }[];
      assert.deepEqual(
        links.map((l) => l.ifname),
        ['lo'],
        `${b.ns} has only lo left`,
      );
    }
  });
});

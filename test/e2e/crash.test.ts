/**
 * Crash injection: `fanctl up`, `fanctl down`, CNI ADD and CNI DEL are killed with SIGKILL at every changing step
 * of their operation lists (test/lab/crash-shim.ts counts the kernel-tool calls and kills the caller at call N; no
 * timing involved), and after each crash the next runs must repair the host: `up` converges and a second `up`
 * reports no changes, a DEL removes a half-made attachment, ADD works again, and `down` leaves nothing (no fan
 * link, route, nftables table, iptables rule, dnsmasq, lease or state file).
 *
 * One lab host (`fncr-…`), its state directory under the lab's; the shims live in /tmp/fncr-crash-shim. Everything
 * is removed in after(), also when a test fails.
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { FANCTL, labDown, labUp } from '../../src/lab/lab.js';
import { root } from '../../src/lab/shell.js';
import { DEFAULT_LAB, type LabHost } from '../../src/lab/topology.js';
import { FAN_CNI_ENTRY } from '../lab/cni-runtime.js';
import { type CrashShim, makeCrashShim } from '../lab/crash-shim.js';

const NAME = 'fncr';
const UP = ['up', '-o', '250.0.0.0/8', '-u', '172.16.0.0/16', '--dhcp'];
const DOWN = ['down', '-o', '250.0.0.0/8'];
const NETWORK = 'crash';
const BOX = `${NAME}-box`;
const BOX_PATH = `/var/run/netns/${BOX}`;
const CONTAINER = 'fncrcontainer0001';

interface Outcome {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

describe('kill -9 at every step, then the next run repairs', { timeout: 900_000 }, () => {
  let host: LabHost;
  let shim: CrashShim;

  const fanctl = (args: readonly string[], at = 0, mode?: 'after' | 'before' | 'first-line'): Promise<Outcome> =>
    root.run(
      [
        ...['ip', 'netns', 'exec', host.ns, 'env', `FAN_STATE_DIR=${host.stateDir}`, ...shim.env(at, mode)],
        ...[process.execPath, FANCTL, ...args],
      ],
      { allowFailure: true, timeoutMs: 120_000 },
    );

  const cni = (command: 'ADD' | 'DEL', at = 0, mode?: 'after' | 'before' | 'first-line'): Promise<Outcome> =>
    root.run(
      [
        ...['ip', 'netns', 'exec', host.ns, 'env', `FAN_STATE_DIR=${host.stateDir}`, 'FAN_CNI_IN_PROCESS=1'],
        ...[`CNI_COMMAND=${command}`, `CNI_CONTAINERID=${CONTAINER}`, `CNI_NETNS=${BOX_PATH}`, 'CNI_IFNAME=eth0'],
        ...['CNI_PATH=/usr/lib/cni', ...shim.env(at, mode), process.execPath, FAN_CNI_ENTRY],
      ],
      {
        input: JSON.stringify({ cniVersion: '1.0.0', name: NETWORK, type: 'fan' }),
        allowFailure: true,
        timeoutMs: 120_000,
      },
    );

  const ok = (what: string, out: Outcome): Outcome => {
    assert.equal(out.exitCode, 0, `${what} failed: ${out.stdout}${out.stderr}`);
    return out;
  };

  /** Runs `run` with the shims counting, without a crash: the number of changing steps it takes. */
  const steps = async (run: () => Promise<Outcome>): Promise<number> => {
    await shim.reset();
    ok('counting run', await run());
    return shim.count();
  };

  /** Runs with a crash at step `at`; asserts the shim really killed it there. */
  const crash = async (what: string, run: () => Promise<Outcome>): Promise<void> => {
    await shim.reset();
    const out = await run();
    const log = await shim.log();
    assert.ok(/killed parent/.test(log), `${what}: the shim killed the process (exit ${out.exitCode})\n${log}`);
    assert.notEqual(out.exitCode, 0, `${what}: a killed process does not succeed`);
  };

  /** Everything of fan's left on the host and in its state directory. */
  const leftovers = async (): Promise<string[]> => {
    const left: string[] = [];
    const links = JSON.parse((await root.run(['ip', '-n', host.ns, '-json', '-details', 'link', 'show'])).stdout) as {
      ifname: string;
      ifalias?: string;
      group?: string;
    }[];
    for (const l of links) {
      if (l.ifname.startsWith('fan') || l.group === '250' || l.ifalias?.startsWith('fan:'))
        left.push(`link ${l.ifname}`);
    }
    const routes = (await root.run(['ip', '-n', host.ns, '-4', 'route', 'show', 'proto', '250'])).stdout.trim();
    if (routes !== '') left.push(`routes ${routes}`);
    const tables = (await root.run(['ip', 'netns', 'exec', host.ns, 'nft', 'list', 'tables'])).stdout;
    for (const t of tables.split('\n').filter((t) => /\bfan/.test(t))) left.push(t);
    const rules = (await root.run(['ip', 'netns', 'exec', host.ns, 'iptables', '-w', '-S'])).stdout;
    for (const r of rules.split('\n').filter((r) => r.includes('"fan '))) left.push(`iptables ${r}`);
    const pids = (await root.run(['ip', 'netns', 'pids', host.ns], { allowFailure: true })).stdout;
    for (const pid of pids.split(/\s+/).filter(Boolean)) {
      const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
      if (comm === 'dnsmasq') left.push(`dnsmasq pid ${pid}`);
    }
    const box = (await root.run(['ip', '-n', BOX, '-json', 'link', 'show'])).stdout;
    for (const l of JSON.parse(box) as { ifname: string }[]) if (l.ifname !== 'lo') left.push(`${BOX}: ${l.ifname}`);
    for (const file of await readdir(host.stateDir)) {
      if (file === 'fans.json') {
        const fans = JSON.parse(await readFile(`${host.stateDir}/${file}`, 'utf8')) as { fans: unknown[] };
        if (fans.fans.length > 0) left.push(`fans.json lists ${fans.fans.length} fan(s)`);
      } else if (file === 'ipam') {
        for (const table of await readdir(`${host.stateDir}/ipam`)) {
          const text = await readFile(`${host.stateDir}/ipam/${table}`, 'utf8').catch(() => '');
          const leases = table.endsWith('.json') ? (JSON.parse(text) as { leases: unknown[] }).leases : [];
          if (!table.endsWith('.json') || leases.length > 0) left.push(`ipam/${table} ${text}`);
        }
      } else if (file === 'policy') {
        // The port-binding list (policy state) may stay, empty.
        for (const entry of await readdir(`${host.stateDir}/policy`)) {
          const text = await readFile(`${host.stateDir}/policy/${entry}`, 'utf8').catch(() => '');
          const empty =
            entry === 'bindings.json' && (JSON.parse(text) as { bindings: unknown[] }).bindings.length === 0;
          if (!empty) left.push(`policy/${entry} ${text}`);
        }
      } else if (file === 'bindings.json') {
        // fan's record of bound ports may stay, empty.
        const text = await readFile(`${host.stateDir}/${file}`, 'utf8').catch(() => '');
        const entries = JSON.parse(text) as { bindings?: unknown[] } | unknown[];
        const n = Array.isArray(entries) ? entries.length : (entries.bindings?.length ?? 0);
        if (n > 0) left.push(`bindings.json lists ${n} port(s): ${text}`);
      } else if (file === 'events.json' || file.endsWith('.lock')) {
        // The event counters of the metrics outlive the fans by design; a lock file holds nothing.
      } else left.push(`state file ${file}`);
    }
    return left;
  };

  const assertClean = async (what: string): Promise<void> => {
    assert.deepEqual(await leftovers(), [], `${what}: nothing of fan's is left`);
  };

  /** `up` repairs whatever a crash left, and a second `up` finds nothing to do. */
  const converges = async (what: string): Promise<void> => {
    ok(`${what}: up`, await fanctl(UP));
    const again = ok(`${what}: second up`, await fanctl(UP));
    assert.match(again.stdout, /no changes/, `${what}: the second up changes nothing:\n${again.stdout}`);
  };

  before(async () => {
    await labDown(NAME);
    const topo = await labUp({ ...DEFAULT_LAB, name: NAME, hosts: 1, containers: 0 });
    const h = topo.hosts[0];
    assert.ok(h);
    host = h;
    shim = await makeCrashShim(`/tmp/${NAME}-crash-shim`);
    await root.run(['ip', 'netns', 'add', BOX]);
    ok('down after labUp', await fanctl(['down', '-e']));
    await assertClean('the lab host without its fan');
  });

  after(async () => {
    await root.run(['ip', 'netns', 'del', BOX], { allowFailure: true });
    await labDown(NAME);
    await shim?.remove();
  });

  it('up killed at every step: the next up converges, a second changes nothing, down leaves nothing', async (t) => {
    const total = await steps(() => fanctl(UP));
    ok('down', await fanctl(DOWN));
    t.diagnostic(`up takes ${total} changing steps`);
    assert.ok(total >= 10, `up changes the host in many steps (${total})`);
    for (let at = 1; at <= total; at++) {
      const what = `up killed at step ${at}/${total}`;
      await crash(what, () => fanctl(UP, at));
      await converges(what);
      ok(`${what}: down`, await fanctl(DOWN));
      await assertClean(what);
    }
  });

  it('down killed at every step: down again leaves nothing, up converges again', async (t) => {
    ok('up', await fanctl(UP));
    const total = await steps(() => fanctl(DOWN));
    t.diagnostic(`down takes ${total} changing steps`);
    assert.ok(total >= 5, `down changes the host in several steps (${total})`);
    ok('up', await fanctl(UP));
    for (let at = 1; at <= total; at++) {
      const what = `down killed at step ${at}/${total}`;
      await crash(what, () => fanctl(DOWN, at));
      ok(`${what}: down again`, await fanctl(DOWN));
      await assertClean(what);
      await converges(what);
    }
    ok('down', await fanctl(DOWN));
    await assertClean('after the down crashes');
  });

  it(`CNI ADD killed at every step (and between the lines of its batch): DEL removes it all, \
ADD works again`, async (t) => {
    ok('up', await fanctl(UP));
    const total = await steps(() => cni('ADD'));
    ok('DEL', await cni('DEL'));
    t.diagnostic(`ADD takes ${total} changing steps`);
    assert.ok(total >= 1);
    const cases = [
      ...Array.from({ length: total }, (_, i) => ({ at: i + 1, mode: 'after' as const })),
      ...Array.from({ length: total }, (_, i) => ({ at: i + 1, mode: 'before' as const })),
      { at: 1, mode: 'first-line' as const },
    ];
    for (const { at, mode } of cases) {
      const what = `ADD killed at step ${at}/${total} (${mode})`;
      await crash(what, () => cni('ADD', at, mode));
      ok(`${what}: DEL`, await cni('DEL'));
      ok(`${what}: down`, await fanctl(DOWN));
      await assertClean(`${what}, DEL and down`);
      ok(`${what}: up`, await fanctl(UP));
      ok(`${what}: ADD again`, await cni('ADD'));
      ok(`${what}: DEL again`, await cni('DEL'));
      // A runtime may also retry ADD without a DEL: the leftover is recognised and replaced.
      await crash(`${what} (retry)`, () => cni('ADD', at, mode));
      ok(`${what}: ADD retried without DEL`, await cni('ADD'));
      ok(`${what}: DEL after the retry`, await cni('DEL'));
    }
    ok('down', await fanctl(DOWN));
    await assertClean('after the ADD crashes');
  });

  it('a fan bridge deleted by hand: up puts the container back on it; down --force leaves nothing', async () => {
    ok('up', await fanctl(UP));
    const added = JSON.parse(ok('ADD', await cni('ADD')).stdout) as {
      interfaces: { name: string }[];
      ips: { gateway: string }[];
    };
    const veth = added.interfaces[0]?.name ?? '';
    const gateway = added.ips[0]?.gateway ?? '';
    const ping = () =>
      root.run(['ip', 'netns', 'exec', BOX, 'ping', '-c', '1', '-W', '2', gateway], {
        allowFailure: true,
        timeoutMs: 10_000,
      });
    ok('the container reaches its gateway', await ping());
    const master = async (): Promise<string | undefined> =>
      (
        JSON.parse((await root.run(['ip', '-n', host.ns, '-json', 'link', 'show', 'dev', veth])).stdout) as {
          master?: string;
        }[]
      )[0]?.master;

    await root.run(['ip', '-n', host.ns, 'link', 'del', 'fan-250']);
    assert.equal(await master(), undefined, 'deleting the bridge leaves the veth on no bridge');
    const repaired = ok('up after the bridge was deleted', await fanctl(UP));
    assert.match(repaired.stdout, new RegExp(`put container veth ${veth} back on fan-250`));
    assert.equal(await master(), 'fan-250');
    ok('the container reaches its gateway again', await ping());
    assert.match(ok('second up', await fanctl(UP)).stdout, /no changes/);

    await root.run(['ip', '-n', host.ns, 'link', 'del', 'fan-250']);
    const refused = await fanctl(DOWN);
    assert.notEqual(refused.exitCode, 0, 'down refuses while a container is cut off from the bridge');
    assert.match(refused.stderr, new RegExp(`${veth} \\(of fan-250, on no bridge\\)`));
    ok('down --force', await fanctl([...DOWN, '--force']));
    await assertClean('down --force after the bridge was deleted');
  });

  it('CNI DEL killed at every step: DEL again removes it all', async (t) => {
    ok('up', await fanctl(UP));
    ok('ADD', await cni('ADD'));
    const total = await steps(() => cni('DEL'));
    t.diagnostic(`DEL takes ${total} changing steps`);
    assert.ok(total >= 1);
    for (let at = 1; at <= total; at++) {
      const what = `DEL killed at step ${at}/${total}`;
      ok(`${what}: ADD`, await cni('ADD'));
      await crash(what, () => cni('DEL', at));
      ok(`${what}: DEL again`, await cni('DEL'));
      ok(`${what}: down`, await fanctl(DOWN));
      await assertClean(what);
      ok(`${what}: up`, await fanctl(UP));
    }
    ok('down', await fanctl(DOWN));
    await assertClean('after the DEL crashes');
  });
});

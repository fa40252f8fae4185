/**
 * The fan Docker plugin with a real dockerd (Debian's docker.io 20.10) on one lab host with two fans: networks
 * created with `--ip-range` hand out only addresses of that range, `docker network connect/disconnect` of a
 * running container (a second fan network, then the first again), and leases dockerd abandons (it was killed
 * between RequestAddress and recording an endpoint) reclaimed when the plugin starts and when a pool is full.
 * Everything is named `fandkn…`; `after` stops every process it started by pid and removes the lab.
 */
import { root } from '../../src/lab/shell.js';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { contains, formatIpv4, parseCidr, parseIpv4, u32 } from '../../src/core/address/ipv4.js';
import { type BackgroundProcess } from '../../src/kernel/exec.js';
import { fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { DEFAULT_LAB, type LabHost, type LabTopology } from '../../src/lab/topology.js';
import { buildBusyboxTarball } from '../lab/busybox.js';
import {
  LAB_IMAGE,
  type LabDockerd,
  crashDockerd,
  docker,
  importImage,
  startDockerd,
  startFanPlugin,
  stopDockerd,
  stopProcess,
  sweepLabDocker,
} from '../lab/docker.js';

const NAME = 'fandkn';

async function sliceOf(h: LabHost, bridge: string): Promise<string> {
  const status = JSON.parse((await fanctl(h, ['show', '--json'])).stdout) as {
    fans: { bridge: string; slice: string }[];
  };
  const fan = status.fans.find((f) => f.bridge === bridge);
  assert.ok(fan, `${bridge} is up on ${h.name}`);
  return fan.slice;
}

async function leases(h: LabHost, bridge: string): Promise<{ address: string; owner: string }[]> {
  const text = await readFile(`${h.stateDir}/ipam/${bridge}.json`, 'utf8').catch(() => '{"leases":[]}');
  return (JSON.parse(text) as { leases: { address: string; owner: string }[] }).leases;
}

async function portsOn(h: LabHost, bridge: string): Promise<string[]> {
  const out = await root.run(['ip', '-n', h.ns, '-json', 'link', 'show', 'master', bridge]);
  return (JSON.parse(out.stdout || '[]') as { ifname: string }[]).map((l) => l.ifname);
}

async function addressesIn(d: LabDockerd, container: string): Promise<Record<string, string>> {
  const out = (await docker(d, ['exec', container, 'ip', '-4', '-o', 'addr', 'show'])).stdout;
  const found: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const m = /^\d+:\s+(\S+)\s+inet\s+(\S+)/.exec(line);
    if (m?.[1] && m[2] && m[1] !== 'lo') found[m[1]] = m[2];
  }
  return found;
}

/** One call straight to the plugin's socket, as dockerd would make it. */
function pluginCall(
  d: LabDockerd,
  path: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: `${d.pluginDir}/fan.sock`, path, method: 'POST', timeout: 10_000 }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const RECLAIM_DONE = /reclaim: \d+ abandoned lease\(s\) freed/g;

async function pluginLog(d: LabDockerd): Promise<string> {
  return readFile(`${d.dir}/fan-plugin.log`, 'utf8').catch(() => '');
}

/** Waits (bounded) until the plugin log (appended across restarts) has `count` matches of `pattern` (flag g). */
async function waitForLog(d: LabDockerd, pattern: RegExp, count = 1, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const log = await pluginLog(d);
    if ((log.match(new RegExp(pattern.source, 'g')) ?? []).length >= count) return log;
    if (Date.now() > deadline) throw new Error(`the plugin log never matched ${String(pattern)}:\n${log.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe(
  'Docker networks on the fan: --ip-range, connect/disconnect, reclaiming abandoned leases',
  { timeout: 300_000 },
  () => {
    let topo: LabTopology;
    let h: LabHost;
    let d: LabDockerd | undefined;
    let plugin: BackgroundProcess | undefined;
    let slice250: string;
    let slice251: string;
    let range: string;
    const reclaimArgs = (): string[] => {
      assert.ok(d);
      return ['--docker-socket', d.socket, '--reclaim-grace', '0', '--reclaim-interval', '0'];
    };

    before(async () => {
      await labDown(NAME);
      await sweepLabDocker(NAME);
      topo = await labUp({
        ...DEFAULT_LAB,
        name: NAME,
        hosts: 1,
        containers: 0,
        overlays: ['250.0.0.0/8', '251.0.0.0/8'],
      });
      const first = topo.hosts[0];
      assert.ok(first);
      h = first;
      const tarball = await buildBusyboxTarball(topo.stateDir);
      d = await startDockerd(h);
      await importImage(d, tarball);
      plugin = await startFanPlugin(d, {}, reclaimArgs());
      slice250 = await sliceOf(h, 'fan-250');
      slice251 = await sliceOf(h, 'fan-251');
      range = `${formatIpv4(u32(parseCidr(slice250).address + 8))}/30`; // .8–.11
    });

    after(async () => {
      // FAN_E2E_LOGS=DIR keeps the plugin and dockerd logs (the data directory is removed below).
      const keep = process.env.FAN_E2E_LOGS;
      if (keep && d) {
        await mkdir(keep, { recursive: true });
        for (const f of ['fan-plugin.log', 'dockerd.log'])
          await copyFile(`${d.dir}/${f}`, `${keep}/${NAME}-${f}`).catch(() => undefined);
      }
      if (d) await stopDockerd(d);
      if (plugin) await stopProcess(plugin);
      await labDown(NAME);
      assert.deepEqual(await sweepLabDocker(NAME), [], 'stopDockerd left nothing to sweep');
    });

    it(`--ip-range: containers get addresses of the range only; --ip outside it is refused naming the \
range`, async () => {
      assert.ok(d);
      await docker(d, [
        'network',
        'create',
        '-d',
        'fan',
        '--ipam-driver',
        'fan',
        '--subnet',
        slice250,
        '--ip-range',
        range,
        'fan',
      ]);
      await docker(d, ['network', 'create', '-d', 'fan', '--ipam-driver', 'fan', '--subnet', slice251, 'fan251']);
      for (const name of ['r1', 'r2'])
        await docker(d, ['run', '-d', '--name', name, '--network', 'fan', LAB_IMAGE, 'sleep', '300']);
      for (const name of ['r1', 'r2']) {
        const ip = (await addressesIn(d, name)).eth0 ?? '';
        assert.ok(contains(parseCidr(range), parseIpv4(ip.split('/')[0] ?? '')), `${name}: ${ip} is in ${range}`);
        assert.ok(ip.endsWith('/24'), "with the slice prefix, not the range's");
      }
      const outside = formatIpv4(u32(parseCidr(slice250).address + 100));
      const refused = await docker(
        d,
        ['run', '-d', '--name', 'r3', '--network', 'fan', '--ip', outside, LAB_IMAGE, 'sleep', '300'],
        { allowFailure: true },
      );
      assert.notEqual(refused.exitCode, 0);
      assert.match(
        refused.stderr,
        new RegExp(
          `fan: .*${outside.replace(/\./g, '\\.')}.*outside the network's --ip-range ${range.replace(/\./g, '\\.')}`,
        ),
      );
      await docker(d, ['rm', '-f', 'r3']);
      // Docker itself checks the range against --subnet; with the overlay as --subnet, fan checks it against the slice.
      const other = `${formatIpv4(u32(parseCidr(slice250).address + 256))}/25`;
      const wide = await docker(
        d,
        [
          'network',
          'create',
          '-d',
          'fan',
          '--ipam-driver',
          'fan',
          '--subnet',
          '250.0.0.0/8',
          '--ip-range',
          other,
          'wide',
        ],
        { allowFailure: true },
      );
      assert.notEqual(wide.exitCode, 0);
      assert.match(
        wide.stderr,
        new RegExp(
          `fan: --ip-range ${other.replace(/\./g, '\\.')} is not inside this host's slice ` +
            `${slice250.replace(/\./g, '\\.')}`,
        ),
      );
    });

    it('network connect/disconnect of a running container: a second fan, then the first one again', async () => {
      assert.ok(d);
      const before250 = (await addressesIn(d, 'r1')).eth0;
      await docker(d, ['network', 'connect', 'fan251', 'r1']);
      const both = await addressesIn(d, 'r1');
      assert.equal(both.eth0, before250);
      assert.ok(
        both.eth1 && contains(parseCidr(slice251), parseIpv4(both.eth1.split('/')[0] ?? '')),
        `eth1 ${both.eth1} in ${slice251}`,
      );
      assert.equal((await leases(h, 'fan-251')).length, 1);
      assert.equal((await portsOn(h, 'fan-251')).length, 1, 'one veth on fan-251');
      const gw251 = formatIpv4(u32(parseCidr(slice251).address + 1));
      assert.equal(
        (await docker(d, ['exec', 'r1', 'ping', '-c', '1', '-W', '2', gw251], { allowFailure: true })).exitCode,
        0,
        'reaches the fan-251 bridge',
      );

      await docker(d, ['network', 'disconnect', 'fan251', 'r1']);
      assert.deepEqual(Object.keys(await addressesIn(d, 'r1')), ['eth0']);
      assert.deepEqual(await leases(h, 'fan-251'), [], 'the fan-251 lease is released');
      assert.deepEqual(await portsOn(h, 'fan-251'), [], 'and its veth deleted');

      await docker(d, ['network', 'disconnect', 'fan', 'r1']);
      assert.deepEqual(await addressesIn(d, 'r1'), {});
      assert.equal((await leases(h, 'fan-250')).length, 1, "only r2's lease is left");
      await docker(d, ['network', 'connect', 'fan', 'r1']);
      const reconnected = Object.values(await addressesIn(d, 'r1'));
      assert.equal(reconnected.length, 1, JSON.stringify(reconnected));
      const again = reconnected[0] ?? '';
      assert.ok(
        contains(parseCidr(range), parseIpv4(again.split('/')[0] ?? '')),
        `reconnected inside the range: ${again}`,
      );
      assert.equal((await leases(h, 'fan-250')).length, 2);
      assert.equal((await portsOn(h, 'fan-250')).length, 2);
    });

    it(`a full range reclaims leases nobody holds: raw RequestAddress calls fill it, \
docker run still gets an address`, async () => {
      assert.ok(d);
      const poolId = `fan-250:${slice250}:${range}`;
      const held = new Set((await leases(h, 'fan-250')).map((l) => l.address));
      // The two addresses left in the range, taken by requests no endpoint ever follows.
      const raw: string[] = [];
      for (let i = 0; i < 2; i++) {
        const r = await pluginCall(d, '/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: {} });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        raw.push(String(r.body.Address).split('/')[0] ?? '');
      }
      assert.equal((await leases(h, 'fan-250')).length, 4, 'the range is full');
      await docker(d, ['run', '-d', '--name', 'r4', '--network', 'fan', LAB_IMAGE, 'sleep', '300']);
      const ip = ((await addressesIn(d, 'r4')).eth0 ?? '').split('/')[0] ?? '';
      assert.ok(raw.includes(ip), `r4 got ${ip}, one of the reclaimed ${raw.join(', ')}`);
      const after = (await leases(h, 'fan-250')).map((l) => l.address);
      for (const a of held) assert.ok(after.includes(a), `${a} of a running container is kept`);
      assert.equal(after.length, 3, 'r1, r2, r4');
      await waitForLog(d, /reclaimed \S+ \(docker:fan-250:.*\): no endpoint of dockerd holds it/);
    });

    it(`dockerd killed between RequestAddress and its bookkeeping: the restarted plugin reclaims the \
lease`, async () => {
      assert.ok(d && plugin);
      await docker(d, ['rm', '-f', 'r1', 'r2', 'r4']);
      const poolId = `fan-250:${slice250}`;
      await docker(d, ['network', 'create', '-d', 'fan', '--ipam-driver', 'fan', '--subnet', slice250, 'plain']);
      await docker(d, ['run', '-d', '--name', 'k1', '--network', 'plain', LAB_IMAGE, 'sleep', '300']);
      const r = await pluginCall(d, '/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: {} });
      assert.equal(r.status, 200);
      const abandoned = String(r.body.Address).split('/')[0] ?? '';
      assert.ok((await leases(h, 'fan-250')).some((l) => l.address === abandoned));

      // The whole Docker stack dies (dockerd by pid, then what it left), the plugin is stopped too.
      const pid = d.process.pid;
      const killed = await crashDockerd(d);
      assert.ok(killed[0]?.includes(String(pid)), killed.join('; '));
      await stopProcess(plugin);
      const runs = ((await pluginLog(d)).match(RECLAIM_DONE) ?? []).length;
      // The plugin first: the restarting dockerd asks it to clean up the endpoints of the containers that died. Its
      // reclaim waits for dockerd's API to answer.
      plugin = await startFanPlugin(d, {}, reclaimArgs());
      d = await startDockerd(h, { keepData: true });
      const log = await waitForLog(d, RECLAIM_DONE, runs + 1);
      assert.match(log, new RegExp(`reclaimed ${abandoned.replace(/\./g, '\\.')} \\(docker:fan-250:`));
      assert.ok(!(await leases(h, 'fan-250')).some((l) => l.address === abandoned), `${abandoned} is free again`);

      // dockerd still knows its networks; a new container works, and a restart of the plugin keeps its lease.
      await docker(d, ['rm', '-f', 'k1']);
      await docker(d, ['run', '-d', '--name', 'k2', '--network', 'plain', LAB_IMAGE, 'sleep', '300']);
      const k2 = ((await addressesIn(d, 'k2')).eth0 ?? '').split('/')[0] ?? '';
      await stopProcess(plugin);
      const before = ((await pluginLog(d)).match(RECLAIM_DONE) ?? []).length;
      plugin = await startFanPlugin(d, {}, reclaimArgs());
      await waitForLog(d, RECLAIM_DONE, before + 1);
      assert.deepEqual(
        (await leases(h, 'fan-250')).map((l) => l.address),
        [k2],
        'the running container keeps its lease; nothing else is held',
      );
      await docker(d, ['rm', '-f', 'k2']);
      assert.deepEqual(await leases(h, 'fan-250'), []);
    });

    it(`bad requests straight to the real plugin: 400 with a clear error, no veth, \
no file outside the state dir`, async () => {
      assert.ok(d);
      const linksBefore = (await root.run(['ip', '-n', h.ns, '-br', 'link'])).stdout;
      const ep = 'c'.repeat(64);
      const spaced = await pluginCall(d, '/NetworkDriver.CreateEndpoint', {
        NetworkID: 'net work',
        EndpointID: ep,
        Interface: { Address: `${formatIpv4(u32(parseCidr(slice250).address + 40))}/24` },
      });
      assert.equal(spaced.status, 400);
      assert.match(
        String(spaced.body.Err),
        /^fan: malformed CreateEndpoint request: NetworkID "net work" is not a Docker id .*\(fix: /,
      );
      assert.equal((await root.run(['ip', '-n', h.ns, '-br', 'link'])).stdout, linksBefore, 'no veth pair was created');
      const traversal = await pluginCall(d, '/IpamDriver.ReleaseAddress', {
        PoolID: '../../../../fandkn-escape/x:250.0.27.0/24',
        Address: '250.0.27.5',
      });
      assert.equal(traversal.status, 400);
      assert.match(String(traversal.body.Err), /PoolID ".*" is not a fan pool id/);
      const escaped = resolve(`${h.stateDir}/ipam`, '../../../../fandkn-escape');
      assert.equal(existsSync(escaped), false, `nothing was written at ${escaped}`);
      for (const mac of ['ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', 'zz:00:00:00:00:00']) {
        const r = await pluginCall(d, '/NetworkDriver.CreateEndpoint', {
          NetworkID: 'a'.repeat(64),
          EndpointID: ep,
          Interface: { Address: `${formatIpv4(u32(parseCidr(slice250).address + 40))}/24`, MacAddress: mac },
        });
        assert.equal(r.status, 400, mac);
        assert.match(String(r.body.Err), /is not a unicast MAC address/);
      }
      const long = await pluginCall(d, '/NetworkDriver.Join', {
        NetworkID: 'a'.repeat(64),
        EndpointID: 'e'.repeat(1000),
      });
      assert.equal(long.status, 400);
      assert.ok(String(long.body.Err).length < 400, 'the 1000-character id is not echoed whole');
      assert.equal((await root.run(['ip', '-n', h.ns, '-br', 'link'])).stdout, linksBefore);
    });
  },
);

/**
 * Port publishing with the fan Docker plugin and a real dockerd (Debian's docker.io 20.10) on one lab host:
 * `docker run -p 8080:80` on a fan network is reachable from the lab's outside namespace at the host's underlay
 * address through DNAT rules in fan's own nftables table `ip fan-ports`, which goes away with the container.
 * Also: the plugin socket is created 0660 whatever the umask. Everything is named `fandkp…`; `after` stops every
 * process it started by pid and removes the lab.
 */
import { root } from '../../src/lab/shell.js';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { formatIpv4 } from '../../src/core/address/ipv4.js';
import { type BackgroundProcess } from '../../src/kernel/exec.js';
import { fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { DEFAULT_LAB, type LabHost, type LabTopology } from '../../src/lab/topology.js';
import { buildBusyboxTarball } from '../lab/busybox.js';
import {
  LAB_IMAGE,
  type LabDockerd,
  docker,
  importImage,
  startDockerd,
  startFanPlugin,
  stopDockerd,
  stopProcess,
  sweepLabDocker,
} from '../lab/docker.js';

const NAME = 'fandkp';

async function sliceOf(h: LabHost): Promise<string> {
  const status = JSON.parse((await fanctl(h, ['show', '--json'])).stdout) as {
    fans: { bridge: string; slice: string }[];
  };
  const fan = status.fans.find((f) => f.bridge === 'fan-250');
  assert.ok(fan, `fan-250 is up on ${h.name}`);
  return fan.slice;
}

async function portTable(h: LabHost): Promise<string | undefined> {
  const out = await root.run(['ip', 'netns', 'exec', h.ns, 'nft', 'list', 'table', 'ip', 'fan-ports'], {
    allowFailure: true,
  });
  return out.exitCode === 0 ? out.stdout : undefined;
}

async function published(h: LabHost): Promise<{ endpointId: string; address: string; ports: unknown[] }[]> {
  const text = await readFile(`${h.stateDir}/docker/ports.json`, 'utf8').catch(() => '{"endpoints":[]}');
  return (JSON.parse(text) as { endpoints: { endpointId: string; address: string; ports: unknown[] }[] }).endpoints;
}

async function leases(h: LabHost): Promise<string[]> {
  const text = await readFile(`${h.stateDir}/ipam/fan-250.json`, 'utf8').catch(() => '{"leases":[]}');
  return (JSON.parse(text) as { leases: { address: string }[] }).leases.map((l) => l.address);
}

/** An HTTP GET (node, 3 s timeout) from inside network namespace `ns`. */
const GET = `const r = require('http').get(process.argv[1], { timeout: 3000 }, (res) => { \
let b = ''; res.on('data', (c) => (b += c));
  res.on('end', () => { process.stdout.write(b); process.exit(res.statusCode === 200 ? 0 : 1); }); });
r.on('timeout', () => r.destroy(new Error('timeout'))); \
r.on('error', (e) => { process.stderr.write(String(e)); process.exit(1); });`;

async function httpGet(ns: string, url: string): Promise<{ ok: boolean; body: string }> {
  const out = await root.run(['ip', 'netns', 'exec', ns, process.execPath, '-e', GET, url], {
    allowFailure: true,
    timeoutMs: 15_000,
  });
  return { ok: out.exitCode === 0, body: out.stdout };
}

async function fetchFromOutside(topo: LabTopology, url: string): Promise<{ ok: boolean; body: string }> {
  return httpGet(topo.outsideNs, url);
}

const HTTPD = (text: string): string[] => [
  'sh',
  '-c',
  `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`,
];

describe(
  'Docker port publishing on a fan network (real dockerd, fan-ports nftables table)',
  { timeout: 240_000 },
  () => {
    let topo: LabTopology;
    let h: LabHost;
    let d: LabDockerd | undefined;
    let plugin: BackgroundProcess | undefined;
    let underlay: string;

    before(async () => {
      await labDown(NAME);
      await sweepLabDocker(NAME);
      topo = await labUp({ ...DEFAULT_LAB, name: NAME, hosts: 1, containers: 0 });
      const first = topo.hosts[0];
      assert.ok(first);
      h = first;
      underlay = formatIpv4(h.underlay.address);
      const tarball = await buildBusyboxTarball(topo.stateDir);
      d = await startDockerd(h);
      await importImage(d, tarball);
      plugin = await startFanPlugin(d, {}, ['--no-reclaim']);
      await docker(d, ['network', 'create', '-d', 'fan', '--ipam-driver', 'fan', '--subnet', await sliceOf(h), 'fan']);
    });

    after(async () => {
      if (d) await stopDockerd(d);
      if (plugin) await stopProcess(plugin);
      await labDown(NAME);
      assert.deepEqual(await sweepLabDocker(NAME), [], 'stopDockerd left nothing to sweep');
    });

    it('the plugin socket is 0660 (root and its group) by default', () => {
      assert.ok(d);
      const mode = statSync(`${d.pluginDir}/fan.sock`).mode & 0o777;
      assert.equal(mode.toString(8), '660');
    });

    it("-p 8080:80 is reachable from outside at the underlay address, through fan's DNAT table only", async () => {
      assert.ok(d);
      assert.equal(await portTable(h), undefined, 'no table before anything is published');
      await docker(d, [
        'run',
        '-d',
        '--name',
        'web',
        '--network',
        'fan',
        '-p',
        '8080:80',
        '-p',
        '9000:7000/udp',
        LAB_IMAGE,
        ...HTTPD('hello-from-fan'),
      ]);
      const ip = (
        await docker(d, ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', 'web'])
      ).stdout.trim();
      const table = await portTable(h);
      assert.ok(table, 'table ip fan-ports exists');
      assert.match(table, /comment "managed by fanctl docker-plugin: published Docker ports"/);
      assert.ok(
        table.includes(`fib daddr type local tcp dport 8080 counter`) && table.includes(`dnat to ${ip}:80`),
        table,
      );
      assert.ok(table.includes(`udp dport 9000`) && table.includes(`dnat to ${ip}:7000`), table);
      const listeners = (
        await root.run(['ip', 'netns', 'exec', h.ns, 'ss', '-Hltn', 'sport', '= :8080'])
      ).stdout.trim();
      assert.equal(listeners, '', 'no proxy listens on 8080: the DNAT rule does the work');
      // httpd may take a moment to bind inside the container: a few bounded tries.
      let got = { ok: false, body: '' };
      for (let i = 0; i < 10 && !got.ok; i++) {
        got = await fetchFromOutside(topo, `http://${underlay}:8080/`);
        if (!got.ok) await new Promise((r) => setTimeout(r, 300));
      }
      assert.ok(got.ok, `GET http://${underlay}:8080/ from ${topo.outsideNs}`);
      assert.equal(got.body.trim(), 'hello-from-fan');
      assert.deepEqual(
        (await published(h)).map((e) => e.address),
        [ip],
      );
      // The host itself reaches the published port at its own underlay address (output chain).
      const local = await httpGet(h.ns, `http://${underlay}:8080/`);
      assert.equal(local.body.trim(), 'hello-from-fan', 'from the host to its own address');
    });

    it(`a second container asking for the same host port is refused with a clear error and leaves \
nothing`, async () => {
      assert.ok(d);
      const before = await leases(h);
      const out = await docker(
        d,
        ['run', '-d', '--name', 'web2', '--network', 'fan', '-p', '8080:80', LAB_IMAGE, ...HTTPD('second')],
        { allowFailure: true },
      );
      assert.notEqual(out.exitCode, 0);
      assert.match(
        out.stderr,
        new RegExp(
          /fan: host port 8080\/tcp is already published for 250\.\S+ \(endpoint [0-9a-f]{12}\) /.source +
            /\(fix: publish another host port/.source,
        ),
      );
      await docker(d, ['rm', '-f', 'web2']);
      assert.deepEqual(await leases(h), before, 'its lease was released');
      assert.equal((await published(h)).length, 1);
      assert.equal(
        (await fetchFromOutside(topo, `http://${underlay}:8080/`)).body.trim(),
        'hello-from-fan',
        'the first one still answers',
      );
    });

    it(`-p HOSTIP:PORT:PORT binds only that address; -p PORT without a host port is refused naming the \
fix`, async () => {
      assert.ok(d);
      await docker(d, [
        'run',
        '-d',
        '--name',
        'web3',
        '--network',
        'fan',
        '-p',
        `${underlay}:8081:80`,
        LAB_IMAGE,
        ...HTTPD('bound'),
      ]);
      const table = await portTable(h);
      assert.ok(table?.includes(`ip daddr ${underlay} tcp dport 8081`), table);
      let got = { ok: false, body: '' };
      for (let i = 0; i < 10 && !got.ok; i++) {
        got = await fetchFromOutside(topo, `http://${underlay}:8081/`);
        if (!got.ok) await new Promise((r) => setTimeout(r, 300));
      }
      assert.equal(got.body.trim(), 'bound');
      const auto = await docker(
        d,
        ['run', '-d', '--name', 'web4', '--network', 'fan', '-p', '80', LAB_IMAGE, ...HTTPD('auto')],
        { allowFailure: true },
      );
      assert.notEqual(auto.exitCode, 0);
      assert.match(
        auto.stderr,
        /fan: -p 80\/tcp asks for a host port .* \(fix: name the host port: -p HOSTPORT:80\/tcp\)/,
      );
      await docker(d, ['rm', '-f', 'web4']);
    });

    it('stopping and removing the containers removes their rules; the last one removes the table', async () => {
      assert.ok(d);
      await docker(d, ['stop', '-t', '1', 'web3']);
      assert.ok(!(await portTable(h))?.includes('dport 8081'), "web3's rule is gone when it stops");
      assert.ok((await portTable(h))?.includes('dport 8080'), "web's stays");
      await docker(d, ['rm', '-f', 'web', 'web3']);
      assert.equal(await portTable(h), undefined, 'no published port: no table');
      assert.deepEqual(await published(h), []);
      assert.deepEqual(await leases(h), []);
      assert.equal((await fetchFromOutside(topo, `http://${underlay}:8080/`)).ok, false, 'nothing answers any more');
      const log = await readFile(`${d.dir}/fan-plugin.log`, 'utf8');
      assert.match(log, /\/NetworkDriver\.RevokeExternalConnectivity 200/);
      assert.ok(!/\.\w+ 5\d\d \d+ms/.test(log), `no 5xx answers:\n${log}`);
    });
  },
);

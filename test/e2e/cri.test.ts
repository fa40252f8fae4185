/**
 * The Kubernetes path: containerd 1.6's CRI plugin (Debian's containerd + runc) on two lab hosts drives the fan CNI
 * plugin that `fanctl cni install` wrote, and the test speaks CRI to it as the kubelet does (test/lab/cri-client.ts).
 * containerd runs in each host's network namespace and a private mount namespace (test/lab/containerd.ts).
 * Everything is named `fancr…`; `after` removes every pod, stops every process it started by pid and checks that
 * nothing is left.
 */
import { root } from '../../src/lab/shell.js';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { type Cidr, contains, formatIpv4, parseCidr, parseIpv4 } from '../../src/core/address/ipv4.js';
import { hostVethName } from '../../src/core/attach/names.js';
import { fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { DEFAULT_LAB, type LabHost, type LabTopology } from '../../src/lab/topology.js';
import {
  type LabContainerd,
  buildPauseImage,
  inHolder,
  restartContainerd,
  startLabContainerd,
  stopLabContainerd,
  sweepLabContainerd,
} from '../lab/containerd.js';
import type { PodSandboxConfig } from '../lab/cri-client.js';
import { cgroupV1Mounts } from '../lab/private-ns.js';

const NAME = 'fancr';
const ROOT = `/var/tmp/${NAME}-containerd`;
const BRIDGE = 'fan-250';

interface LeaseRecord {
  readonly address: string;
  readonly owner: string;
  readonly ifname: string;
  readonly pod?: { readonly namespace: string; readonly name: string; readonly uid?: string };
}

interface Node {
  readonly h: LabHost;
  readonly d: LabContainerd;
  readonly bin: string;
  readonly conf: string;
  readonly slice: Cidr;
}

async function leases(h: LabHost): Promise<LeaseRecord[]> {
  const text = await readFile(`${h.stateDir}/ipam/${BRIDGE}.json`, 'utf8').catch(() => '{"leases":[]}');
  return (JSON.parse(text) as { leases: LeaseRecord[] }).leases;
}

/** Host ends of container veths on the fan bridge (fan's, by alias). */
async function bridgePorts(h: LabHost): Promise<string[]> {
  const out = (await root.run(['ip', '-n', h.ns, '-json', 'link', 'show', 'master', BRIDGE])).stdout;
  const links = JSON.parse(out.trim() === '' ? '[]' : out) as { ifname: string; ifalias?: string }[];
  return links
    .filter((l) => l.ifalias?.startsWith('fan: cni '))
    .map((l) => l.ifname)
    .sort();
}

/** Pod network namespaces containerd holds (bind mounts in its private /run/netns). */
async function podNetns(d: LabContainerd): Promise<string[]> {
  const out = await inHolder(d, ['ls', '-1', '/run/netns'], true);
  return out.stdout
    .split('\n')
    .filter((n) => n.startsWith('cni-'))
    .sort();
}

async function sliceOf(h: LabHost): Promise<Cidr> {
  const status = JSON.parse((await fanctl(h, ['show', '--json'])).stdout) as {
    fans: { bridge: string; slice: string }[];
  };
  const fan = status.fans.find((f) => f.bridge === BRIDGE);
  assert.ok(fan, `${BRIDGE} is up on ${h.name}`);
  return parseCidr(fan.slice);
}

/** The pause process of a sandbox, from PodSandboxStatus's verbose info. */
async function sandboxPid(d: LabContainerd, id: string): Promise<number> {
  const status = await d.cri.podSandboxStatus(id, true);
  const info = JSON.parse(status.info.info ?? '{}') as { pid?: number };
  assert.ok(
    typeof info.pid === 'number' && info.pid > 0,
    `PodSandboxStatus info names the pause pid: ${status.info.info?.slice(0, 300)}`,
  );
  return info.pid;
}

/** argv in the pod's network namespace (through its pause process: the netns mount is private to containerd). */
async function inPod(
  d: LabContainerd,
  id: string,
  argv: readonly string[],
  allowFailure = false,
): Promise<{ exitCode: number; stdout: string }> {
  const pid = await sandboxPid(d, id);
  return root.run(['nsenter', `--net=/proc/${pid}/ns/net`, ...argv], { allowFailure, timeoutMs: 30_000 });
}

async function ping(d: LabContainerd, id: string, target: string): Promise<boolean> {
  return (await inPod(d, id, ['ping', '-n', '-c', '2', '-i', '0.2', '-W', '2', target], true)).exitCode === 0;
}

async function podIp(d: LabContainerd, id: string): Promise<string> {
  const status = await d.cri.podSandboxStatus(id);
  const ip = status.status.network?.ip ?? '';
  assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/, `PodSandboxStatus of ${id} has an IPv4 address`);
  return ip;
}

let podSeq = 0;
function podConfig(node: Node, name: string, namespace = 'default'): PodSandboxConfig {
  const uid = `${NAME}-uid-${++podSeq}-${Date.now().toString(16)}`;
  return {
    metadata: { name, uid, namespace, attempt: 0 },
    hostname: name,
    labels: { app: NAME },
    linux: { cgroup_parent: node.d.cgroupParent },
  };
}

/** Waits (bounded) until containerd's CRI has loaded a CNI config containing `marker`. */
async function waitForCniConfig(d: LabContainerd, marker: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = (await d.cri.status(true)).info.cniconfig ?? '';
    if (last.includes(marker)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(
    `containerd did not load a CNI config with ${marker} within ${timeoutMs} ms; it has ${last.slice(0, 400)}`,
  );
}

/** Replaces the conflist atomically (containerd watches the directory). */
async function writeConflist(node: Node, conflist: unknown): Promise<void> {
  const path = `${node.conf}/50-${BRIDGE}.conflist`;
  await writeFile(`${path}.tmp`, `${JSON.stringify(conflist, null, 2)}\n`);
  await rename(`${path}.tmp`, path);
}

describe('Kubernetes: containerd CRI drives the fan CNI plugin on two lab hosts', { timeout: 600_000 }, () => {
  let topo: LabTopology;
  const nodes: Node[] = [];
  const node = (i: number): Node => {
    const n = nodes[i];
    assert.ok(n);
    return n;
  };
  let installedConflist: unknown;

  before(async () => {
    await labDown(NAME);
    const swept = await sweepLabContainerd(ROOT, NAME); // what a crashed earlier run left
    if (swept.length > 0) process.stderr.write(`# swept: ${swept.join('; ')}\n`);
    topo = await labUp({ ...DEFAULT_LAB, name: NAME, hosts: 2, containers: 0 });
    await mkdir(ROOT, { recursive: true });
    const pauseImage = await buildPauseImage(ROOT);
    for (const h of topo.hosts) {
      const bin = `${ROOT}/cni-${h.ns}/bin`;
      const conf = `${ROOT}/cni-${h.ns}/net.d`;
      await fanctl(h, ['cni', 'install', '--dir', bin, '--conf-dir', conf]);
      const started = Date.now();
      const d = await startLabContainerd(h, {
        root: ROOT,
        cniBinDir: bin,
        cniConfDir: conf,
        keep: [topo.stateDir],
        pauseImage,
      });
      process.stderr.write(`# containerd of ${h.ns}: pid ${d.process.pid}, ready in ${Date.now() - started} ms\n`);
      nodes.push({ h, d, bin, conf, slice: await sliceOf(h) });
    }
    installedConflist = JSON.parse(await readFile(`${node(0).conf}/50-${BRIDGE}.conflist`, 'utf8'));
  });

  after(async () => {
    for (const n of nodes) {
      const forced = await stopLabContainerd(n.d);
      if (forced.length > 0) process.stderr.write(`# ${n.h.ns}: forced ${forced.join('; ')}\n`);
    }
    await labDown(NAME);
    await sweepLabContainerd(ROOT, NAME);
    const left = (await root.run(['ip', 'netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(`${NAME}-`));
    assert.deepEqual(left, [], 'no namespace of the lab is left');
    const cgroups: string[] = [];
    for (const m of await cgroupV1Mounts()) {
      for (const e of await readdir(m.mountPoint).catch(() => [] as string[]))
        if (e.startsWith(`${NAME}-`)) cgroups.push(`${m.mountPoint}/${e}`);
    }
    assert.deepEqual(cgroups, [], 'no cgroup of the lab is left');
    assert.equal(existsSync(ROOT), false, `${ROOT} is removed`);
  });

  it('CRI answers and reports the network ready with the conflist fanctl cni install wrote', async () => {
    const v = await node(0).d.cri.version();
    assert.equal(v.runtime_name, 'containerd');
    assert.match(v.runtime_version, /^1\.6\./);
    assert.equal(v.runtime_api_version, 'v1');
    const status = await node(0).d.cri.status(true);
    const network = status.status.conditions.find((c) => c.type === 'NetworkReady');
    assert.equal(network?.status, true, JSON.stringify(status.status.conditions));
    assert.match(status.info.cniconfig ?? '', /"type":\s*\\?"fan\\?"/);
  });

  it("a pod gets an address of its host's slice, the fan MTU and a default route via the bridge", async () => {
    const n = node(0);
    const config = podConfig(n, 'web-0', 'shop');
    const id = await n.d.cri.runPodSandbox(config);
    const ip = await podIp(n.d, id);
    assert.ok(contains(n.slice, parseIpv4(ip)), `${ip} is in ${n.h.name}'s slice`);
    const addr = JSON.parse((await inPod(n.d, id, ['ip', '-json', 'address', 'show', 'dev', 'eth0'])).stdout) as {
      mtu: number;
      addr_info: { local: string; prefixlen: number }[];
    }[];
    assert.equal(addr[0]?.mtu, 1450, 'fan MTU: underlay 1500 - 50');
    assert.deepEqual(
      addr[0]?.addr_info.filter((a) => a.local.includes('.')).map((a) => `${a.local}/${a.prefixlen}`),
      [`${ip}/24`],
    );
    const gateway = formatIpv4(n.slice.address + 1);
    assert.match(
      (await inPod(n.d, id, ['ip', 'route', 'show', 'default'])).stdout,
      new RegExp(`^default via ${gateway.replace(/\./g, '\\.')} dev eth0`),
    );
    assert.ok(await ping(n.d, id, gateway), 'the pod reaches its gateway, the fan bridge');
    // The host end is fan's veth on the bridge; the lease names the pod.
    assert.ok((await bridgePorts(n.h)).includes(hostVethName(id, 'eth0')));
    const lease = (await leases(n.h)).find((l) => l.owner === `cni:${BRIDGE}:${id}`);
    assert.ok(lease, 'a lease for the sandbox');
    assert.equal(lease.address, ip);
    assert.deepEqual(lease.pod, { namespace: 'shop', name: 'web-0', uid: config.metadata.uid });
    // fanctl attachments shows who holds the address.
    const listed = JSON.parse((await fanctl(n.h, ['attachments', '--json'])).stdout) as {
      bridge: string;
      attachments: {
        address?: string;
        runtime: string;
        hostIf?: string;
        containerId?: string;
        pod?: unknown;
        problems: string[];
      }[];
    }[];
    const row = listed.find((b) => b.bridge === BRIDGE)?.attachments.find((a) => a.address === ip);
    assert.deepEqual(
      row && {
        runtime: row.runtime,
        hostIf: row.hostIf,
        containerId: row.containerId,
        pod: row.pod,
        problems: row.problems,
      },
      {
        runtime: 'cni',
        hostIf: hostVethName(id, 'eth0'),
        containerId: id,
        pod: { namespace: 'shop', name: 'web-0', uid: config.metadata.uid },
        problems: [],
      },
    );
    assert.match((await fanctl(n.h, ['attachments'])).stdout, /k8s shop\/web-0/);
    await n.d.cri.stopPodSandbox(id);
    await n.d.cri.removePodSandbox(id);
  });

  it('pods on two hosts reach each other; Stop/RemovePodSandbox free the lease, the veth and the netns', async () => {
    const [a, b] = [node(0), node(1)];
    const leasesBefore = [(await leases(a.h)).length, (await leases(b.h)).length];
    const portsBefore = [await bridgePorts(a.h), await bridgePorts(b.h)];
    const idA = await a.d.cri.runPodSandbox(podConfig(a, 'ping-a'));
    const idB = await b.d.cri.runPodSandbox(podConfig(b, 'ping-b'));
    const [ipA, ipB] = [await podIp(a.d, idA), await podIp(b.d, idB)];
    assert.ok(
      contains(a.slice, parseIpv4(ipA)) && contains(b.slice, parseIpv4(ipB)),
      `${ipA} and ${ipB} are in their hosts' slices`,
    );
    assert.ok(await ping(a.d, idA, ipB), `pod on h1 (${ipA}) reaches the pod on h2 (${ipB})`);
    assert.ok(await ping(b.d, idB, ipA), `pod on h2 (${ipB}) reaches the pod on h1 (${ipA})`);
    assert.equal((await podNetns(a.d)).length, 1, 'containerd holds one pod netns on h1');

    await a.d.cri.stopPodSandbox(idA);
    assert.equal((await leases(a.h)).length, leasesBefore[0], 'StopPodSandbox released the address');
    assert.deepEqual(await bridgePorts(a.h), portsBefore[0], 'StopPodSandbox removed the host veth');
    assert.deepEqual(await podNetns(a.d), [], 'and the pod network namespace');
    assert.equal((await a.d.cri.podSandboxStatus(idA)).status.state, 'SANDBOX_NOTREADY');
    await a.d.cri.stopPodSandbox(idA); // idempotent, as the kubelet expects
    await a.d.cri.removePodSandbox(idA);
    assert.equal(
      (await a.d.cri.listPodSandbox()).some((p) => p.id === idA),
      false,
      'RemovePodSandbox removed it',
    );
    await a.d.cri.removePodSandbox(idA); // idempotent
    assert.ok(!(await ping(b.d, idB, ipA)), 'the removed pod no longer answers');

    await b.d.cri.removePodSandbox(idB); // Remove without Stop stops it too
    assert.equal((await leases(b.h)).length, leasesBefore[1]);
    assert.deepEqual(await bridgePorts(b.h), portsBefore[1]);
  });

  it('a failed RunPodSandbox leaks nothing: a fan that is not up; a chained plugin failing after fan', async () => {
    const n = node(0);
    const snapshot = async () => ({
      leases: (await leases(n.h)).map((l) => l.owner).sort(),
      ports: await bridgePorts(n.h),
      netns: await podNetns(n.d),
    });
    const before = await snapshot();
    const failPlugin = `${n.bin}/${NAME}-fail`;
    await writeFile(
      failPlugin,
      [
        '#!/bin/sh',
        "# Test plugin: refuses every ADD, accepts everything else (so the runtime's clean-up DEL reaches fan).",
        'cat >/dev/null',
        'case "$CNI_COMMAND" in',
        `  ADD) echo '{"cniVersion":"1.0.0","code":999,"msg":"${NAME}-fail refuses ADD"}'; exit 1 ;;`,
        `  VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}' ;;`,
        'esac',
        'exit 0',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const base = installedConflist as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
    const fan = base.plugins.find((p) => p.type === 'fan');
    assert.ok(fan);
    try {
      // A fan that is not up on this host: fan refuses before it allocates anything.
      await writeConflist(n, { ...base, plugins: [{ ...fan, overlay: '240.0.0.0/8' }] });
      await waitForCniConfig(n.d, '240.0.0.0/8');
      await assert.rejects(n.d.cri.runPodSandbox(podConfig(n, 'no-fan')), /no fan with overlay 240\.0\.0\.0\/8 is up/);
      assert.deepEqual(await snapshot(), before, 'no lease, veth or netns after the refused pod');

      // fan attaches, then the next plugin fails: containerd's clean-up DEL must undo fan's part.
      await writeConflist(n, { ...base, plugins: [fan, { type: `${NAME}-fail` }] });
      await waitForCniConfig(n.d, `${NAME}-fail`);
      await assert.rejects(n.d.cri.runPodSandbox(podConfig(n, 'chain-fails')), new RegExp(`${NAME}-fail refuses ADD`));
      assert.deepEqual(await snapshot(), before, "fan's lease and veth are gone again");
      assert.equal(
        (await n.d.cri.listPodSandbox()).some((p) => p.metadata.name === 'chain-fails' && p.state === 'SANDBOX_READY'),
        false,
      );
    } finally {
      await writeConflist(n, base);
      await waitForCniConfig(n.d, '"portmap"');
    }
    // With the conflist back, pods run again.
    const id = await n.d.cri.runPodSandbox(podConfig(n, 'after-failures'));
    assert.ok(contains(n.slice, parseIpv4(await podIp(n.d, id))));
    await n.d.cri.removePodSandbox(id);
    assert.deepEqual(await snapshot(), before);
  });

  it('20 pods started in parallel get distinct addresses of the slice; removing them frees every one', async () => {
    const n = node(1);
    const before = (await leases(n.h)).length;
    const ids = await Promise.all(
      Array.from({ length: 20 }, (_, i) => n.d.cri.runPodSandbox(podConfig(n, `batch-${i}`, 'batch'))),
    );
    const ips = await Promise.all(ids.map((id) => podIp(n.d, id)));
    assert.equal(new Set(ips).size, 20, `distinct addresses: ${ips.join(' ')}`);
    for (const ip of ips) assert.ok(contains(n.slice, parseIpv4(ip)), `${ip} in ${n.h.name}'s slice`);
    const recorded = (await leases(n.h)).filter((l) => l.pod?.namespace === 'batch');
    assert.deepEqual(recorded.map((l) => l.address).sort(), [...ips].sort(), 'one lease per pod, naming it');
    assert.equal((await bridgePorts(n.h)).length, 20);
    await Promise.all(
      ids.map(async (id) => {
        await n.d.cri.stopPodSandbox(id);
        await n.d.cri.removePodSandbox(id);
      }),
    );
    assert.equal((await leases(n.h)).length, before);
    assert.deepEqual(await bridgePorts(n.h), []);
  });

  it('restarting containerd keeps pods attached: status lists their IPs, they still reach each other', async () => {
    const [a, b] = [node(0), node(1)];
    const idA = await a.d.cri.runPodSandbox(podConfig(a, 'survivor-a'));
    const idB = await b.d.cri.runPodSandbox(podConfig(b, 'survivor-b'));
    const [ipA, ipB] = [await podIp(a.d, idA), await podIp(b.d, idB)];
    const pauseBefore = await sandboxPid(a.d, idA);
    const { stoppedPid, startedPid } = await restartContainerd(a.d);
    assert.notEqual(startedPid, stoppedPid);
    assert.equal(existsSync(`/proc/${stoppedPid}`), false, 'the containerd we started is gone');
    const status = await a.d.cri.podSandboxStatus(idA);
    assert.equal(status.status.state, 'SANDBOX_READY');
    assert.equal(status.status.network?.ip, ipA, 'the new containerd reports the same IP');
    assert.equal(await sandboxPid(a.d, idA), pauseBefore, 'the same pause process');
    assert.ok(await ping(a.d, idA, ipB), 'h1 pod reaches h2 pod after the restart');
    assert.ok(await ping(b.d, idB, ipA), 'h2 pod reaches h1 pod after the restart');
    assert.ok(
      (await leases(a.h)).some((l) => l.owner === `cni:${BRIDGE}:${idA}` && l.address === ipA),
      'the lease is still held',
    );
    // The restarted containerd still tears the pod's network down.
    await a.d.cri.stopPodSandbox(idA);
    await a.d.cri.removePodSandbox(idA);
    assert.equal(
      (await leases(a.h)).some((l) => l.owner === `cni:${BRIDGE}:${idA}`),
      false,
    );
    assert.deepEqual(await bridgePorts(a.h), []);
    await b.d.cri.removePodSandbox(idB);
  });
});

/**
 * Pods join policy groups by their Kubernetes namespace, through the fan CNI plugin on a lab host: a pod in
 * namespace `web` gets an address of web's index range, a namespace mapped under `namespaces:` gets its group's, a
 * namespace the policy does not know gets an address outside every group, and an explicit `"group"` in the
 * network config wins over the namespace. The pod traffic between them follows the policy (ping). Everything is
 * named `fnetcg…` and removed by labDown, also when a test fails.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { parseCidr, parseIpv4 } from '../../src/core/address/ipv4.js';
import { ExecRunner } from '../../src/kernel/exec.js';
import { fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { DEFAULT_LAB, type LabHost, type LabTopology } from '../../src/lab/topology.js';
import { execFanCni } from '../lab/cni-runtime.js';

const NAME = 'fnetcg';
const root = new ExecRunner();
const POLICY = `default: isolate
groups:
  web: { index: 10-19 }
  db:  { index: 20-29 }
namespaces:
  payments: db
`;

interface Pod {
  readonly ns: string;
  readonly address: string;
  readonly index: number;
}

async function ping(ns: string, target: string): Promise<boolean> {
  const out = await new ExecRunner(ns).run(['ping', '-n', '-c', '1', '-W', '1', target], {
    allowFailure: true,
    timeoutMs: 10_000,
  });
  return out.exitCode === 0;
}

describe('CNI: pods join groups by their Kubernetes namespace', { timeout: 300_000 }, () => {
  let topo: LabTopology;
  let h: LabHost;
  let base: number;
  let seq = 0;

  async function pod(namespace: string, group?: string): Promise<Pod> {
    const n = ++seq;
    const ns = `${NAME}-h1-p${n}`;
    await root.run(['ip', 'netns', 'add', ns]);
    await root.run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    // what kubelet's runtime (containerd, CRI-O) passes for a pod
    const args = `IgnoreUnknown=1;K8S_POD_NAMESPACE=${namespace};K8S_POD_NAME=pod${n};K8S_POD_INFRA_CONTAINER_ID=c${n}`;
    const out = await execFanCni(
      h,
      { command: 'ADD', containerId: `fnetcg${n}`, netns: `/var/run/netns/${ns}`, ifname: 'eth0', args },
      { cniVersion: '1.0.0', name: 'fnetcg', type: 'fan', ...(group !== undefined ? { group } : {}) },
    );
    assert.equal(out.exitCode, 0, out.stdout + out.stderr);
    const address = ((out.json?.ips as { address: string }[] | undefined)?.[0]?.address ?? '').split('/')[0] ?? '';
    return { ns, address, index: parseIpv4(address) - base };
  }

  before(async () => {
    await labDown(NAME);
    topo = await labUp({ ...DEFAULT_LAB, name: NAME, hosts: 1, containers: 0 });
    h = topo.hosts[0] ?? assert.fail('no host');
    const show = JSON.parse((await fanctl(h, ['show', '--json'])).stdout) as { fans: { slice: string }[] };
    base = parseCidr(show.fans[0]?.slice ?? assert.fail('no fan')).address;
    await writeFile(`${topo.stateDir}/policy.yaml`, POLICY);
    await fanctl(h, ['policy', 'apply', `${topo.stateDir}/policy.yaml`]);
  });

  after(async () => {
    await labDown(NAME);
  });

  it("a pod in namespace web gets an address of web's range; mapped, unknown and explicit groups", async () => {
    const web1 = await pod('web');
    const web2 = await pod('web');
    const payments = await pod('payments');
    const other = await pod('kube-system');
    const explicit = await pod('web', 'db');
    for (const p of [web1, web2]) assert.ok(p.index >= 10 && p.index <= 19, `web pod ${p.address}`);
    assert.notEqual(web1.address, web2.address);
    assert.ok(payments.index >= 20 && payments.index <= 29, `payments -> db: ${payments.address}`);
    assert.ok(explicit.index >= 20 && explicit.index <= 29, `"group": "db" wins: ${explicit.address}`);
    assert.ok(other.index < 10 || other.index > 29, `kube-system is in no group: ${other.address}`);
    // the addresses carry the groups: web reaches web, not db
    assert.ok(await ping(web1.ns, web2.address), 'web -> web');
    assert.equal(await ping(web1.ns, payments.address), false, 'web -> db (payments) isolated');
    const check = await fanctl(h, ['policy', 'check', web1.address, payments.address, '--json']);
    assert.equal((JSON.parse(check.stdout) as { allowed: boolean }).allowed, false);
  });
});

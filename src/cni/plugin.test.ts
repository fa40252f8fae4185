import { FakeBinder } from '../testing/port-binder.js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFanWords } from '../core/config/fan-spec.js';
import { type Fan, resolveFans } from '../core/config/resolve.js';
import type { HostFacts, InterfaceFacts, RouteFacts } from '../core/model/host-facts.js';
import { cidrOf, hostFacts, iface, typicalHost } from '../testing/builders.js';
import { hostVethName } from '../core/attach/names.js';
import { poolOf } from '../core/ipam/pool.js';
import type { AttachedVethRequest, SandboxLinks } from '../ports/sandbox.js';
import { InterfaceExistsError } from '../core/attach/errors.js';
import { formatCidr } from '../core/address/ipv4.js';
import type { LeaseStore } from '../ports/leases.js';
import { MemoryLeaseStore } from '../store/memory-leases.js';
import { runCni } from './dispatcher.js';
import { type CniDeps, fanCniPlugin } from './plugin.js';

/** An in-memory kernel: namespaces, host links and container links. */
class FakeLinks implements SandboxLinks {
  readonly namespaces = new Set<string>();
  readonly host = new Map<string, InterfaceFacts>();
  readonly containers = new Map<string, Map<string, InterfaceFacts>>();
  readonly routes = new Map<string, RouteFacts[]>();
  /** Host end → its peer. */
  private readonly peers = new Map<string, { netns: string; ifname: string }>();
  failConfigure = false;
  private mac = 0;

  private nextMac(): string {
    return `02:00:00:00:00:${(++this.mac).toString(16).padStart(2, '0')}`;
  }

  netnsExists(netns: string): Promise<boolean> {
    return Promise.resolve(this.namespaces.has(netns));
  }

  createAttachedVeth(req: AttachedVethRequest): Promise<{ host: InterfaceFacts; container: InterfaceFacts }> {
    if (this.host.has(req.hostIf) || this.containers.get(req.netns)?.has(req.ifname)) {
      return Promise.reject(new InterfaceExistsError(`${req.hostIf} or ${req.ifname} exists`));
    }
    // nothing left behind
    if (this.failConfigure) return Promise.reject(new Error('RTNETLINK answers: Operation not permitted'));
    const inside = this.containers.get(req.netns) ?? new Map<string, InterfaceFacts>();
    this.containers.set(req.netns, inside);
    const container = iface(req.ifname, [formatCidr(req.address)], { mtu: req.mtu, up: true, mac: this.nextMac() });
    inside.set(req.ifname, container);
    this.routes.set(req.netns, [{ dst: cidrOf('0.0.0.0/0'), gateway: req.gateway, dev: req.ifname }]);
    const host = iface(req.hostIf, [], { mtu: req.mtu, master: req.bridge, alias: req.alias, mac: this.nextMac() });
    this.host.set(req.hostIf, host);
    this.peers.set(req.hostIf, { netns: req.netns, ifname: req.ifname });
    return Promise.resolve({ host, container });
  }

  containerLink(netns: string, ifname: string): Promise<InterfaceFacts | undefined> {
    return Promise.resolve(this.containers.get(netns)?.get(ifname));
  }

  containerRoutes(netns: string): Promise<RouteFacts[]> {
    return Promise.resolve(this.routes.get(netns) ?? []);
  }

  hostLink(name: string): Promise<InterfaceFacts | undefined> {
    return Promise.resolve(this.host.get(name));
  }

  hostLinks(): Promise<InterfaceFacts[]> {
    return Promise.resolve([...this.host.values()]);
  }

  deleteHostLink(name: string): Promise<boolean> {
    const existed = this.host.delete(name);
    const peer = this.peers.get(name);
    if (peer) this.containers.get(peer.netns)?.delete(peer.ifname); // the peer goes with it
    this.peers.delete(name);
    return Promise.resolve(existed);
  }
}

const FAN_BRIDGE = iface('fan-250', ['250.3.4.1/24'], {
  alias: 'fan: bridge of fan 250.0.0.0/8',
  kind: 'bridge',
  mtu: 1450,
});

function harness(options: { fans?: string[]; facts?: HostFacts } = {}) {
  const facts = options.facts ?? hostFacts([...typicalHost().interfaces, FAN_BRIDGE], typicalHost().routes);
  const fans: Fan[] = resolveFans(
    (options.fans ?? ['-o 250.0.0.0/8 -u 172.16.0.0/16']).map((l) => parseFanWords(l.split(' '))),
    typicalHost(),
  );
  const links = new FakeLinks();
  const bindings = new FakeBinder();
  const stores = new Map<string, LeaseStore>();
  const storeOf = (fan: Fan): LeaseStore => {
    const existing = stores.get(fan.bridge);
    if (existing) return existing;
    const store = new MemoryLeaseStore(poolOf(fan));
    stores.set(fan.bridge, store);
    return store;
  };
  const logs: string[] = [];
  const deps: CniDeps = {
    fans: () => Promise.resolve({ fans, facts }),
    leases: storeOf,
    allLeaseStores: () => Promise.resolve([...stores.values()]),
    links,
    bindings,
    log: (line) => void logs.push(line),
  };
  const plugin = fanCniPlugin(deps);
  const run = async (command: string, env: Record<string, string>, conf: Record<string, unknown> = {}) => {
    const out: string[] = [];
    const code = await runCni(
      {
        env: { CNI_COMMAND: command, CNI_IFNAME: 'eth0', ...env },
        stdin: JSON.stringify({ cniVersion: '1.1.0', name: 'fannet', type: 'fan', ...conf }),
        stdout: (t) => void out.push(t),
        stderr: () => {},
      },
      plugin,
    );
    const text = out.join('');
    return { code, json: text.trim() ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  };
  const add = (id: string, conf: Record<string, unknown> = {}, env: Record<string, string> = {}) => {
    links.namespaces.add(`/var/run/netns/${id}`);
    return run('ADD', { CNI_CONTAINERID: id, CNI_NETNS: `/var/run/netns/${id}`, ...env }, conf);
  };
  return { run, add, links, stores, logs, fans, storeOf };
}

describe('fan CNI plugin (fake kernel)', () => {
  it('ADD attaches the container and returns host veth, container interface, IP and route', async () => {
    const h = harness();
    const r = await h.add('c1');
    assert.equal(r.code, 0, JSON.stringify(r.json));
    assert.deepEqual(r.json, {
      cniVersion: '1.1.0',
      interfaces: [
        { name: hostVethName('c1', 'eth0'), mac: '02:00:00:00:00:02', mtu: 8950 },
        { name: 'eth0', mac: '02:00:00:00:00:01', mtu: 8950, sandbox: '/var/run/netns/c1' },
      ],
      ips: [{ address: '250.3.4.2/24', gateway: '250.3.4.1', interface: 1 }],
      routes: [{ dst: '0.0.0.0/0', gw: '250.3.4.1' }],
      dns: {},
    });
    const host = await h.links.hostLink(hostVethName('c1', 'eth0'));
    assert.equal(host?.master, 'fan-250');
    assert.equal(host?.alias, 'fan: cni fannet c1 eth0');
  });

  it("appends to a previous plugin's result", async () => {
    const h = harness();
    const prev = {
      interfaces: [{ name: 'lo0' }],
      ips: [],
      routes: [{ dst: '10.0.0.0/8' }],
      dns: { nameservers: ['1.1.1.1'] },
    };
    const r = await h.add('c1', { prevResult: prev });
    assert.equal((r.json?.interfaces as unknown[]).length, 3);
    assert.deepEqual(r.json?.ips, [{ address: '250.3.4.2/24', gateway: '250.3.4.1', interface: 2 }]);
    assert.deepEqual(r.json?.routes, [{ dst: '10.0.0.0/8' }, { dst: '0.0.0.0/0', gw: '250.3.4.1' }]);
    assert.deepEqual(r.json?.dns, { nameservers: ['1.1.1.1'] });
  });

  it('static requests: CNI_ARGS IP= inside the slice works; outside is refused naming the slice', async () => {
    const h = harness();
    assert.deepEqual((await h.add('c1', {}, { CNI_ARGS: 'IgnoreUnknown=1;IP=250.3.4.77' })).json?.ips, [
      { address: '250.3.4.77/24', gateway: '250.3.4.1', interface: 1 },
    ]);
    const out = await h.add('c2', { capabilities: { ips: true }, runtimeConfig: { ips: ['250.9.9.9/24'] } });
    assert.equal(out.code, 1);
    assert.equal(out.json?.code, 7);
    assert.match(String(out.json?.msg), /outside this host's slice 250\.3\.4\.0\/24/);
    assert.equal(h.links.host.size, 1, 'nothing left behind by the refused ADD');
  });

  it('records the Kubernetes pod of CNI_ARGS with the lease, as containerd passes it', async () => {
    const h = harness();
    const args =
      'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=c1;K8S_POD_UID=5d1e-9a';
    assert.equal((await h.add('c1', {}, { CNI_ARGS: args })).code, 0);
    assert.equal((await h.add('c2')).code, 0);
    const leases = await h.storeOf(h.fans[0] as Fan).list();
    assert.deepEqual(
      leases.map((l) => [l.owner, l.pod]),
      [
        ['cni:fannet:c1', { namespace: 'shop', name: 'web-0', uid: '5d1e-9a' }],
        ['cni:fannet:c2', undefined],
      ],
    );
    const bad = await h.add('c3', {}, { CNI_ARGS: 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web 1' });
    assert.equal(bad.json?.code, 4, 'a pod name with a blank is refused as an invalid environment');
    assert.equal(h.links.host.size, 2, 'the refused ADD created nothing');
  });

  it('rolls back the veth and the address when a step fails', async () => {
    const h = harness();
    h.links.failConfigure = true;
    const r = await h.add('c1');
    assert.equal(r.json?.code, 999);
    assert.equal(h.links.host.size, 0);
    assert.deepEqual(await h.storeOf(h.fans[0] as Fan).list(), []);
  });

  it('refuses an unknown namespace (3), a missing fan (11) and a DHCP-only fan (7)', async () => {
    const h = harness();
    const gone = await h.run('ADD', { CNI_CONTAINERID: 'c1', CNI_NETNS: '/proc/12345/ns/net' });
    assert.equal(gone.json?.code, 3);
    const other = await h.add('c2', { overlay: '240.0.0.0/8' });
    assert.equal(other.json?.code, 11);
    const dhcp = harness({ fans: ['-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp-range 253'] });
    const full = await dhcp.add('c3');
    assert.equal(full.json?.code, 7);
    assert.match(String(full.json?.details), /without dhcp/);
  });

  it(`on a fan with the default DHCP split, allocates from the lower half, \
never from dnsmasq's upper half`, async () => {
    const h = harness({ fans: ['-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp'] });
    assert.equal((await h.run('STATUS', {})).code, 0);
    const r = await h.add('c1');
    const ips = r.json?.ips as { address: string }[] | undefined;
    assert.equal(ips?.[0]?.address, '250.3.4.2/24');
    const high = await h.add('c2', {}, { CNI_ARGS: 'IgnoreUnknown=1;IP=250.3.4.200' });
    assert.equal(high.json?.code, 7);
    assert.match(
      String(high.json?.msg),
      /is in the fan's DHCP range \(dnsmasq hands these out\), 250\.3\.4\.128–250\.3\.4\.254/,
    );
  });

  it('reports exhaustion with code 11', async () => {
    const h = harness({ fans: ['-o 250.0.0.0/8 -u 172.16.0.0/16 --host-reserve 250'] }); // 4 addresses left
    for (let i = 0; i < 4; i++) assert.equal((await h.add(`c${i}`)).code, 0);
    const r = await h.add('c9');
    assert.equal(r.json?.code, 11);
    assert.match(String(r.json?.msg), /is full: all 4 container addresses of slice 250\.3\.4\.0\/24/);
  });

  it('DEL removes the veth and the lease, and succeeds again and for unknown containers', async () => {
    const h = harness();
    await h.add('c1');
    const del = (id: string) => h.run('DEL', { CNI_CONTAINERID: id });
    assert.equal((await del('c1')).code, 0);
    assert.equal(h.links.host.size, 0);
    assert.deepEqual(await h.storeOf(h.fans[0] as Fan).list(), []);
    assert.equal((await del('c1')).code, 0);
    assert.equal((await del('never-added')).code, 0);
  });

  it('CHECK passes on a fresh attachment and names what changed', async () => {
    const h = harness();
    const added = await h.add('c1');
    const env = { CNI_CONTAINERID: 'c1', CNI_NETNS: '/var/run/netns/c1' };
    assert.equal((await h.run('CHECK', env, { prevResult: added.json })).code, 0);
    h.links.routes.set('/var/run/netns/c1', []);
    const broken = await h.run('CHECK', env, { prevResult: added.json });
    assert.equal(broken.json?.code, 100);
    assert.match(String(broken.json?.msg), /no default route via 250\.3\.4\.1/);
    assert.equal((await h.run('CHECK', env)).json?.code, 7, 'CHECK without prevResult');
    h.links.namespaces.delete('/var/run/netns/c1');
    assert.equal((await h.run('CHECK', env, { prevResult: added.json })).json?.code, 3);
  });

  it('STATUS: ok when the fan is up, 50 when not, 51 when its bridge is gone, 50 for a DHCP-only fan', async () => {
    assert.equal((await harness().run('STATUS', {})).code, 0);
    assert.equal((await harness({ fans: [] }).run('STATUS', {})).json?.code, 50);
    assert.equal((await harness().run('STATUS', {}, { overlay: '251.0.0.0/8' })).json?.code, 50);
    assert.equal((await harness({ facts: typicalHost() }).run('STATUS', {})).json?.code, 51);
    assert.equal(
      (await harness({ fans: ['-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp-range 253'] }).run('STATUS', {})).json?.code,
      50,
    );
  });

  it('GC keeps valid attachments and removes the rest of this network only', async () => {
    const h = harness();
    await h.add('c1');
    await h.add('c2');
    await h.add('c3', { name: 'othernet' });
    const store = h.storeOf(h.fans[0] as Fan);
    await store.allocate('docker:ep1', 'eth0');
    const r = await h.run('GC', {}, { 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] });
    assert.equal(r.code, 0);
    assert.deepEqual((await store.list()).map((l) => l.owner).sort(), [
      'cni:fannet:c1',
      'cni:othernet:c3',
      'docker:ep1',
    ]);
    assert.deepEqual([...h.links.host.keys()].sort(), [hostVethName('c1', 'eth0'), hostVethName('c3', 'eth0')].sort());
    assert.ok(h.logs.some((l) => l.startsWith('gc: released 250.3.4.3 of cni:fannet:c2')));
    assert.equal((await h.run('GC', {})).json?.code, 7, 'GC without valid-attachments');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DockerDeps } from '../app/docker.js';
import { formatIpv4, parseIpv4 } from '../core/address/ipv4.js';
import { dockerVethNames } from '../core/attach/names.js';
import { parseFanWords } from '../core/config/fan-spec.js';
import { type Fan, resolveFans } from '../core/config/resolve.js';
import { poolOf } from '../core/ipam/pool.js';
import type { HostFacts, InterfaceFacts } from '../core/model/host-facts.js';
import { hostFacts, iface, typicalHost } from '../testing/builders.js';
import type { LeaseStore } from '../ports/leases.js';
import type { HostVeths, VethPairRequest } from '../ports/sandbox.js';
import { MemoryLeaseStore } from '../store/memory-leases.js';
import { dispatchDockerCall } from './dispatcher.js';
import { fanDockerPlugin } from './plugin.js';

/** The host's links as the driver sees them: veth pairs created in this namespace. */
class FakeVeths implements HostVeths {
  readonly links = new Map<string, InterfaceFacts>();
  private readonly peers = new Map<string, string>();
  private mac = 0;

  createVethPair(req: VethPairRequest): Promise<{ host: InterfaceFacts; peer: InterfaceFacts }> {
    if (this.links.has(req.hostIf) || this.links.has(req.peer)) return Promise.reject(new Error('RTNETLINK answers: File exists'));
    const host = iface(req.hostIf, [], { mtu: req.mtu, master: req.bridge, alias: req.alias, mac: `02:00:00:00:01:${(++this.mac).toString(16).padStart(2, '0')}` });
    const peer = iface(req.peer, [], { mtu: req.mtu, up: false, mac: req.peerMac ?? `02:00:00:00:02:${this.mac.toString(16).padStart(2, '0')}` });
    this.links.set(req.hostIf, host);
    this.links.set(req.peer, peer);
    this.peers.set(req.hostIf, req.peer);
    return Promise.resolve({ host, peer });
  }

  hostLink(name: string): Promise<InterfaceFacts | undefined> {
    return Promise.resolve(this.links.get(name));
  }

  deleteHostLink(name: string): Promise<boolean> {
    const existed = this.links.delete(name);
    const peer = this.peers.get(name);
    if (peer) this.links.delete(peer);
    this.peers.delete(name);
    return Promise.resolve(existed);
  }
}

const FAN_BRIDGE = iface('fan-250', ['250.3.4.1/24'], { alias: 'fan: bridge of fan 250.0.0.0/8', kind: 'bridge', mtu: 8950 });
const SLICE = '250.3.4.0/24';
const POOL_ID = `fan-250:${SLICE}`;
const NET = 'n'.repeat(64);
const EP = 'e'.repeat(64);

function harness(options: { fans?: string[]; facts?: HostFacts } = {}) {
  const facts = options.facts ?? hostFacts([...typicalHost().interfaces, FAN_BRIDGE], typicalHost().routes);
  const fans: Fan[] = resolveFans((options.fans ?? ['-o 250.0.0.0/8 -u 172.16.0.0/16']).map((l) => parseFanWords(l.split(' '))), typicalHost());
  const veths = new FakeVeths();
  const stores = new Map<string, MemoryLeaseStore>();
  const storeOf = (bridge: string, fan?: Fan): MemoryLeaseStore => {
    const existing = stores.get(bridge);
    if (existing) return existing;
    const store = new MemoryLeaseStore(fan ? poolOf(fan) : undefined);
    stores.set(bridge, store);
    return store;
  };
  const logs: string[] = [];
  let ids = 0;
  const deps: DockerDeps = {
    fans: () => Promise.resolve({ fans, facts }),
    leases: (fan): LeaseStore => storeOf(fan.bridge, fan),
    leasesOfBridge: (bridge) => storeOf(bridge),
    veths,
    newId: () => `req${++ids}`,
    log: (line) => void logs.push(line),
  };
  // A fresh handler table per call, as after a plugin restart: nothing may live in memory.
  const call = async (path: string, body: unknown) => {
    const answer = await dispatchDockerCall(fanDockerPlugin(deps), path, typeof body === 'string' ? body : JSON.stringify(body));
    return { status: answer.status, body: answer.body as Record<string, unknown> };
  };
  const leases = () => storeOf('fan-250', fans[0]).list();
  return { call, veths, leases, logs, fans, storeOf };
}

function err(r: { body: Record<string, unknown> }): string {
  return String(r.body.Err);
}

describe('fan Docker plugin (fake kernel, memory IPAM)', () => {
  it('Activate and capabilities: both drivers, local scope, no request replay', async () => {
    const h = harness();
    assert.deepEqual(await h.call('/Plugin.Activate', ''), { status: 200, body: { Implements: ['NetworkDriver', 'IpamDriver'] } });
    assert.deepEqual((await h.call('/NetworkDriver.GetCapabilities', null)).body, { Scope: 'local', ConnectivityScope: 'local' });
    assert.deepEqual((await h.call('/IpamDriver.GetCapabilities', null)).body, { RequiresMACAddress: false, RequiresRequestReplay: false });
    assert.deepEqual((await h.call('/IpamDriver.GetDefaultAddressSpaces', null)).body, { LocalDefaultAddressSpace: 'fan-local', GlobalDefaultAddressSpace: 'fan-global' });
  });

  it('runs the call sequence Docker 20.10 sends for network create, run, stop and network rm', async () => {
    const h = harness();
    // network create -d fan --ipam-driver fan --subnet 250.3.4.0/24 fan
    const pool = await h.call('/IpamDriver.RequestPool', { AddressSpace: 'fan-local', Pool: SLICE, SubPool: '', Options: {}, V6: false });
    assert.deepEqual(pool, { status: 200, body: { PoolID: POOL_ID, Pool: SLICE, Data: {} } });
    const gw = await h.call('/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
    assert.deepEqual(gw, { status: 200, body: { Address: '250.3.4.1/24', Data: {} } });
    assert.deepEqual(await h.leases(), [], 'the gateway is the bridge: no lease');
    const net = await h.call('/NetworkDriver.CreateNetwork', { NetworkID: NET, Options: { 'com.docker.network.generic': {} }, IPv4Data: [{ AddressSpace: 'fan-local', Gateway: '250.3.4.1/24', Pool: SLICE }], IPv6Data: [] });
    assert.deepEqual(net, { status: 200, body: {} });

    // docker run --network fan
    const addr = await h.call('/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '', Options: null });
    assert.deepEqual(addr, { status: 200, body: { Address: '250.3.4.2/24', Data: {} } });
    assert.deepEqual((await h.leases()).map((l) => [formatIpv4(l.address), l.owner, l.ifname]), [['250.3.4.2', `docker:${POOL_ID}:req1`, 'docker']]);
    const ep = await h.call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '250.3.4.2/24', MacAddress: '' }, Options: {} });
    const { hostIf, peer } = dockerVethNames(EP);
    const peerLink = h.veths.links.get(peer);
    assert.deepEqual(ep, { status: 200, body: { Interface: { MacAddress: peerLink?.mac } } }, 'only the MAC goes back, never the address');
    const hostLink = h.veths.links.get(hostIf);
    assert.equal(hostLink?.master, 'fan-250');
    assert.equal(hostLink?.mtu, 8950);
    assert.equal(hostLink?.alias, `fan: docker ${NET} ${EP}`);
    assert.match(hostIf, /^fan[0-9a-f]{8}$/);
    assert.match(peer, /^fanp[0-9a-f]{8}$/);
    const join = await h.call('/NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: '/var/run/docker/netns/abc', Options: {} });
    assert.deepEqual(join, { status: 200, body: { InterfaceName: { SrcName: peer, DstPrefix: 'eth' }, Gateway: '250.3.4.1', StaticRoutes: [], DisableGatewayService: false } });
    assert.deepEqual((await h.call('/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: {} })).body, {});
    assert.deepEqual((await h.call('/NetworkDriver.EndpointOperInfo', { NetworkID: NET, EndpointID: EP })).body, { Value: {} });

    // docker stop / rm
    assert.equal((await h.call('/NetworkDriver.RevokeExternalConnectivity', { NetworkID: NET, EndpointID: EP })).status, 200);
    assert.equal((await h.call('/NetworkDriver.Leave', { NetworkID: NET, EndpointID: EP })).status, 200);
    assert.ok(h.veths.links.has(hostIf), 'Leave keeps the veth: Docker moves the interface back afterwards');
    assert.equal((await h.call('/NetworkDriver.DeleteEndpoint', { NetworkID: NET, EndpointID: EP })).status, 200);
    assert.equal(h.veths.links.size, 0, 'both ends are gone');
    assert.deepEqual((await h.call('/IpamDriver.ReleaseAddress', { PoolID: POOL_ID, Address: '250.3.4.2' })).body, {});
    assert.deepEqual(await h.leases(), []);

    // docker network rm
    assert.equal((await h.call('/IpamDriver.ReleaseAddress', { PoolID: POOL_ID, Address: '250.3.4.1' })).status, 200);
    assert.equal((await h.call('/IpamDriver.ReleasePool', { PoolID: POOL_ID })).status, 200);
    assert.equal((await h.call('/NetworkDriver.DeleteNetwork', { NetworkID: NET })).status, 200);
  });

  it('RequestPool: the overlay means this host\'s slice; identical requests get the same pool', async () => {
    const h = harness();
    const a = await h.call('/IpamDriver.RequestPool', { AddressSpace: 'fan-local', Pool: '250.0.0.0/8', SubPool: '', Options: {}, V6: false });
    const b = await h.call('/IpamDriver.RequestPool', { AddressSpace: 'fan-local', Pool: '250.0.0.0/8', SubPool: '', Options: {}, V6: false });
    assert.deepEqual(a, { status: 200, body: { PoolID: POOL_ID, Pool: SLICE, Data: {} } });
    assert.deepEqual(b, a);
  });

  it('RequestPool errors are 4xx and say what to pass', async () => {
    const h = harness();
    const none = await h.call('/IpamDriver.RequestPool', { AddressSpace: 'fan-local', Pool: '', SubPool: '', Options: {}, V6: false });
    assert.equal(none.status, 400);
    assert.match(err(none), /needs a subnet.*fix: pass --subnet 250\.3\.4\.0\/24 \(or the overlay 250\.0\.0\.0\/8\) for fan-250/);
    const other = await h.call('/IpamDriver.RequestPool', { AddressSpace: 'fan-local', Pool: '250.3.5.0/24', SubPool: '', Options: {}, V6: false });
    assert.equal(other.status, 400);
    assert.match(err(other), /subnet 250\.3\.5\.0\/24 is not this host's slice of fan 250\.0\.0\.0\/8: this host's slice is 250\.3\.4\.0\/24/);
    const foreign = await h.call('/IpamDriver.RequestPool', { AddressSpace: 'fan-local', Pool: '10.0.0.0/24', SubPool: '', Options: {}, V6: false });
    assert.equal(foreign.status, 400);
    assert.match(err(foreign), /not a fan of this host/);
    const v6 = await h.call('/IpamDriver.RequestPool', { AddressSpace: 'fan-local', Pool: 'fd00::/64', SubPool: '', Options: {}, V6: true });
    assert.equal(v6.status, 400);
    assert.match(err(v6), /no IPv6/);
    const range = await h.call('/IpamDriver.RequestPool', { AddressSpace: 'fan-local', Pool: SLICE, SubPool: '250.3.4.128/25', Options: {}, V6: false });
    assert.equal(range.status, 400);
    assert.match(err(range), /--ip-range 250\.3\.4\.128\/25 is not supported/);
    const down = harness({ fans: [] });
    const notUp = await down.call('/IpamDriver.RequestPool', { AddressSpace: 'fan-local', Pool: SLICE, SubPool: '', Options: {}, V6: false });
    assert.equal(notUp.status, 503);
    assert.match(err(notUp), /no fan is up on this host.*fix: bring one up first/);
  });

  it('RequestAddress: static addresses honoured, refused outside the slice (naming it), taken and exhausted are 409', async () => {
    const h = harness();
    const fixed = await h.call('/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '250.3.4.77', Options: {} });
    assert.deepEqual(fixed.body, { Address: '250.3.4.77/24', Data: {} });
    const outside = await h.call('/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '250.3.5.7', Options: {} });
    assert.equal(outside.status, 400);
    assert.match(err(outside), /250\.3\.5\.7 is outside this host's slice 250\.3\.4\.0\/24/);
    const taken = await h.call('/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '250.3.4.77', Options: {} });
    assert.equal(taken.status, 409);
    assert.match(err(taken), /already held by docker:fan-250:250\.3\.4\.0\/24:req1/);
    const reserved = await h.call('/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '250.3.4.1', Options: {} });
    assert.equal(reserved.status, 400, 'the bridge address is only handed out as the gateway');
    const badGw = await h.call('/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '250.3.4.9', Options: { RequestAddressType: 'com.docker.network.gateway' } });
    assert.equal(badGw.status, 400);
    assert.match(err(badGw), /gateway 250\.3\.4\.9 is not the fan's.*--gateway 250\.3\.4\.1/);
    for (let i = 0; i < 252; i++) assert.equal((await h.call('/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '', Options: {} })).status, 200);
    const full = await h.call('/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '', Options: {} });
    assert.equal(full.status, 409);
    assert.match(err(full), /is full: all 253 container addresses of slice 250\.3\.4\.0\/24 are allocated/);
    assert.equal(new Set((await h.leases()).map((l) => l.address)).size, 253);
  });

  it('RequestAddress for a pool whose fan changed or went down says so', async () => {
    const h = harness();
    const moved = await h.call('/IpamDriver.RequestAddress', { PoolID: 'fan-250:250.9.9.0/24', Address: '', Options: {} });
    assert.equal(moved.status, 400);
    assert.match(err(moved), /pool 250\.9\.9\.0\/24 is no longer this host's slice.*--subnet 250\.3\.4\.0\/24/);
    const gone = await h.call('/IpamDriver.RequestAddress', { PoolID: 'fan-240:240.3.4.0/24', Address: '', Options: {} });
    assert.equal(gone.status, 503);
    const junk = await h.call('/IpamDriver.RequestAddress', { PoolID: 'nonsense', Address: '', Options: {} });
    assert.equal(junk.status, 400);
    assert.match(err(junk), /not a fan pool/);
  });

  it('ReleaseAddress frees only the pool\'s Docker lease of that address, and is idempotent', async () => {
    const h = harness();
    const store = h.storeOf('fan-250', h.fans[0]);
    await store.allocate('cni:fannet:c1', 'eth0', parseIpv4('250.3.4.5'));
    await h.call('/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '250.3.4.6', Options: {} });
    assert.equal((await h.call('/IpamDriver.ReleaseAddress', { PoolID: POOL_ID, Address: '250.3.4.5' })).status, 200);
    assert.equal((await h.call('/IpamDriver.ReleaseAddress', { PoolID: POOL_ID, Address: '250.3.4.6/24' })).status, 200);
    assert.equal((await h.call('/IpamDriver.ReleaseAddress', { PoolID: POOL_ID, Address: '250.3.4.6' })).status, 200);
    assert.deepEqual((await h.leases()).map((l) => l.owner), ['cni:fannet:c1'], 'the CNI lease stays');
  });

  it('CreateNetwork refuses pools that are not this host\'s slice, foreign gateways and IPv6', async () => {
    const h = harness();
    const overlay = await h.call('/NetworkDriver.CreateNetwork', { NetworkID: NET, Options: {}, IPv4Data: [{ AddressSpace: 'x', Pool: '250.0.0.0/8', Gateway: '250.0.0.1/8' }] });
    assert.equal(overlay.status, 400);
    assert.match(err(overlay), /pool 250\.0\.0\.0\/8 is not this host's slice.*--ipam-driver fan --subnet 250\.3\.4\.0\/24/);
    const gateway = await h.call('/NetworkDriver.CreateNetwork', { NetworkID: NET, Options: {}, IPv4Data: [{ AddressSpace: 'x', Pool: SLICE, Gateway: '250.3.4.254/24' }] });
    assert.equal(gateway.status, 400);
    assert.match(err(gateway), /gateway 250\.3\.4\.254 is not the fan's/);
    const none = await h.call('/NetworkDriver.CreateNetwork', { NetworkID: NET, Options: {}, IPv4Data: null, IPv6Data: null });
    assert.equal(none.status, 400);
    const v6 = await h.call('/NetworkDriver.CreateNetwork', { NetworkID: NET, Options: {}, IPv4Data: [{ Pool: SLICE, Gateway: '250.3.4.1/24' }], IPv6Data: [{ Pool: 'fd00::/64' }] });
    assert.equal(v6.status, 400);
    const noBridge = harness({ facts: typicalHost() });
    const damaged = await noBridge.call('/NetworkDriver.CreateNetwork', { NetworkID: NET, Options: {}, IPv4Data: [{ Pool: SLICE, Gateway: '250.3.4.1/24' }] });
    assert.equal(damaged.status, 503);
    assert.match(err(damaged), /bridge fan-250 is missing.*run fanctl up again/);
  });

  it('CreateEndpoint keeps a MAC Docker chose (answering an empty Interface) and replaces a leftover veth of the same endpoint', async () => {
    const h = harness();
    const body = { NetworkID: NET, EndpointID: EP, Interface: { Address: '250.3.4.2/24', AddressIPv6: '', MacAddress: '02:42:fa:03:04:02' }, Options: {} };
    assert.deepEqual(await h.call('/NetworkDriver.CreateEndpoint', body), { status: 200, body: { Interface: {} } });
    const { hostIf, peer } = dockerVethNames(EP);
    assert.equal(h.veths.links.get(peer)?.mac, '02:42:fa:03:04:02');
    assert.equal((await h.call('/NetworkDriver.CreateEndpoint', body)).status, 200, 'a retry replaces the leftover');
    assert.match(h.logs.join('\n'), new RegExp(`removing leftover host interface ${hostIf}`));
    h.veths.links.set(hostIf, iface(hostIf, [], { alias: 'somebody else' }));
    const foreign = await h.call('/NetworkDriver.CreateEndpoint', body);
    assert.equal(foreign.status, 500);
    assert.match(err(foreign), /exists and is not fan's.*ip link del/);
  });

  it('CreateEndpoint refuses an address outside this host\'s slices and endpoints without an address', async () => {
    const h = harness();
    const outside = await h.call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '10.1.2.3/24' } });
    assert.equal(outside.status, 400);
    assert.match(err(outside), /10\.1\.2\.3\/24 is not in this host's slice of any fan.*250\.3\.4\.0\/24 on fan-250/);
    const none = await h.call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: null });
    assert.equal(none.status, 400);
    assert.match(err(none), /has no IPv4 address.*--ipam-driver fan/);
    assert.equal(h.veths.links.size, 0);
  });

  it('Join of an endpoint without a veth is 404; DeleteEndpoint of one is fine (twice)', async () => {
    const h = harness();
    const join = await h.call('/NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: '/x', Options: null });
    assert.equal(join.status, 404);
    assert.match(err(join), /has no veth here.*start it again/);
    assert.equal((await h.call('/NetworkDriver.DeleteEndpoint', { NetworkID: NET, EndpointID: EP })).status, 200);
    assert.equal((await h.call('/NetworkDriver.DeleteEndpoint', { NetworkID: NET, EndpointID: EP })).status, 200);
  });

  it('protocol errors: unknown path 404, body not JSON or of the wrong shape 400', async () => {
    const h = harness();
    const unknown = await h.call('/NetworkDriver.AllocateNetwork', {});
    assert.equal(unknown.status, 404);
    assert.match(err(unknown), /no handler for \/NetworkDriver\.AllocateNetwork/);
    const notJson = await h.call('/IpamDriver.RequestPool', '{nope');
    assert.equal(notJson.status, 400);
    const shape = await h.call('/IpamDriver.ReleaseAddress', { PoolID: POOL_ID });
    assert.equal(shape.status, 400);
    assert.match(err(shape), /malformed ReleaseAddress request: Address: Required/);
    assert.equal((await h.call('/constructor', {})).status, 404);
  });
});

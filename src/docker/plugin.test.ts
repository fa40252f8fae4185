import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIpv4, parseIpv4 } from '../core/address/ipv4.js';
import { dockerVethNames } from '../core/attach/names.js';
import { iface, typicalHost } from '../testing/builders.js';
import { EP, NET, POOL_ID, SLICE, harness } from '../testing/docker-plugin.js';

function err(r: { body: Record<string, unknown> }): string {
  return String(r.body.Err);
}

describe('fan Docker plugin (fake kernel, memory IPAM)', () => {
  it('Activate and capabilities: both drivers, local scope, no request replay', async () => {
    const h = harness();
    assert.deepEqual(await h.call('/Plugin.Activate', ''), {
      status: 200,
      body: { Implements: ['NetworkDriver', 'IpamDriver'] },
    });
    assert.deepEqual((await h.call('/NetworkDriver.GetCapabilities', null)).body, {
      Scope: 'local',
      ConnectivityScope: 'local',
    });
    assert.deepEqual((await h.call('/IpamDriver.GetCapabilities', null)).body, {
      RequiresMACAddress: false,
      RequiresRequestReplay: false,
    });
    assert.deepEqual((await h.call('/IpamDriver.GetDefaultAddressSpaces', null)).body, {
      LocalDefaultAddressSpace: 'fan-local',
      GlobalDefaultAddressSpace: 'fan-global',
    });
  });

  it('runs the call sequence Docker 20.10 sends for network create, run, stop and network rm', async () => {
    const h = harness();
    // network create -d fan --ipam-driver fan --subnet 250.3.4.0/24 fan
    const pool = await h.call('/IpamDriver.RequestPool', {
      AddressSpace: 'fan-local',
      Pool: SLICE,
      SubPool: '',
      Options: {},
      V6: false,
    });
    assert.deepEqual(pool, { status: 200, body: { PoolID: POOL_ID, Pool: SLICE, Data: {} } });
    const gw = await h.call('/IpamDriver.RequestAddress', {
      PoolID: POOL_ID,
      Address: '',
      Options: { RequestAddressType: 'com.docker.network.gateway' },
    });
    assert.deepEqual(gw, { status: 200, body: { Address: '250.3.4.1/24', Data: {} } });
    assert.deepEqual(await h.leases(), [], 'the gateway is the bridge: no lease');
    const net = await h.call('/NetworkDriver.CreateNetwork', {
      NetworkID: NET,
      Options: { 'com.docker.network.generic': {} },
      IPv4Data: [{ AddressSpace: 'fan-local', Gateway: '250.3.4.1/24', Pool: SLICE }],
      IPv6Data: [],
    });
    assert.deepEqual(net, { status: 200, body: {} });

    // docker run --network fan
    const addr = await h.call('/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '', Options: null });
    assert.deepEqual(addr, { status: 200, body: { Address: '250.3.4.2/24', Data: {} } });
    assert.deepEqual(
      (await h.leases()).map((l) => [formatIpv4(l.address), l.owner, l.ifname]),
      [['250.3.4.2', `docker:${POOL_ID}:req1`, 'docker']],
    );
    const ep = await h.call('/NetworkDriver.CreateEndpoint', {
      NetworkID: NET,
      EndpointID: EP,
      Interface: { Address: '250.3.4.2/24', MacAddress: '' },
      Options: {},
    });
    const { hostIf, peer } = dockerVethNames(EP);
    const peerLink = h.veths.links.get(peer);
    assert.deepEqual(
      ep,
      { status: 200, body: { Interface: { MacAddress: peerLink?.mac } } },
      'only the MAC goes back, never the address',
    );
    const hostLink = h.veths.links.get(hostIf);
    assert.equal(hostLink?.master, 'fan-250');
    assert.equal(hostLink?.mtu, 8950);
    assert.equal(hostLink?.alias, `fan: docker ${NET} ${EP} 250.3.4.2`);
    assert.match(hostIf, /^fan[0-9a-f]{8}$/);
    assert.match(peer, /^fanp[0-9a-f]{8}$/);
    const join = await h.call('/NetworkDriver.Join', {
      NetworkID: NET,
      EndpointID: EP,
      SandboxKey: '/var/run/docker/netns/abc',
      Options: {},
    });
    assert.deepEqual(join, {
      status: 200,
      body: {
        InterfaceName: { SrcName: peer, DstPrefix: 'eth' },
        Gateway: '250.3.4.1',
        StaticRoutes: [],
        DisableGatewayService: false,
      },
    });
    assert.deepEqual(
      (await h.call('/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: {} }))
        .body,
      {},
    );
    assert.deepEqual((await h.call('/NetworkDriver.EndpointOperInfo', { NetworkID: NET, EndpointID: EP })).body, {
      Value: {},
    });

    // docker stop / rm
    assert.equal(
      (await h.call('/NetworkDriver.RevokeExternalConnectivity', { NetworkID: NET, EndpointID: EP })).status,
      200,
    );
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

  it("RequestPool: the overlay means this host's slice; identical requests get the same pool", async () => {
    const h = harness();
    const a = await h.call('/IpamDriver.RequestPool', {
      AddressSpace: 'fan-local',
      Pool: '250.0.0.0/8',
      SubPool: '',
      Options: {},
      V6: false,
    });
    const b = await h.call('/IpamDriver.RequestPool', {
      AddressSpace: 'fan-local',
      Pool: '250.0.0.0/8',
      SubPool: '',
      Options: {},
      V6: false,
    });
    assert.deepEqual(a, { status: 200, body: { PoolID: POOL_ID, Pool: SLICE, Data: {} } });
    assert.deepEqual(b, a);
  });

  it('RequestPool errors are 4xx and say what to pass', async () => {
    const h = harness();
    const none = await h.call('/IpamDriver.RequestPool', {
      AddressSpace: 'fan-local',
      Pool: '',
      SubPool: '',
      Options: {},
      V6: false,
    });
    assert.equal(none.status, 400);
    assert.match(
      err(none),
      /needs a subnet.*fix: pass --subnet 250\.3\.4\.0\/24 \(or the overlay 250\.0\.0\.0\/8\) for fan-250/,
    );
    const other = await h.call('/IpamDriver.RequestPool', {
      AddressSpace: 'fan-local',
      Pool: '250.3.5.0/24',
      SubPool: '',
      Options: {},
      V6: false,
    });
    assert.equal(other.status, 400);
    assert.match(
      err(other),
      /subnet 250\.3\.5\.0\/24 is not this host's slice of fan 250\.0\.0\.0\/8: this host's slice is 250\.3\.4\.0\/24/,
    );
    const foreign = await h.call('/IpamDriver.RequestPool', {
      AddressSpace: 'fan-local',
      Pool: '10.0.0.0/24',
      SubPool: '',
      Options: {},
      V6: false,
    });
    assert.equal(foreign.status, 400);
    assert.match(err(foreign), /not a fan of this host/);
    const v6 = await h.call('/IpamDriver.RequestPool', {
      AddressSpace: 'fan-local',
      Pool: 'fd00::/64',
      SubPool: '',
      Options: {},
      V6: true,
    });
    assert.equal(v6.status, 400);
    assert.match(err(v6), /no IPv6/);
    const range = await h.call('/IpamDriver.RequestPool', {
      AddressSpace: 'fan-local',
      Pool: SLICE,
      SubPool: '250.3.5.128/25',
      Options: {},
      V6: false,
    });
    assert.equal(range.status, 400);
    assert.match(
      err(range),
      /--ip-range 250\.3\.5\.128\/25 is not inside this host's slice 250\.3\.4\.0\/24.*fix: pass an --ip-range inside/,
    );
    const wide = await h.call('/IpamDriver.RequestPool', {
      AddressSpace: 'fan-local',
      Pool: SLICE,
      SubPool: '250.3.0.0/16',
      Options: {},
      V6: false,
    });
    assert.equal(wide.status, 400);
    const down = harness({ fans: [] });
    const notUp = await down.call('/IpamDriver.RequestPool', {
      AddressSpace: 'fan-local',
      Pool: SLICE,
      SubPool: '',
      Options: {},
      V6: false,
    });
    assert.equal(notUp.status, 503);
    assert.match(err(notUp), /no fan is up on this host.*fix: bring one up first/);
  });

  it(`RequestAddress: static addresses honoured, refused outside the slice (naming it), \
taken and exhausted are 409`, async () => {
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
    const badGw = await h.call('/IpamDriver.RequestAddress', {
      PoolID: POOL_ID,
      Address: '250.3.4.9',
      Options: { RequestAddressType: 'com.docker.network.gateway' },
    });
    assert.equal(badGw.status, 400);
    assert.match(err(badGw), /gateway 250\.3\.4\.9 is not the fan's.*--gateway 250\.3\.4\.1/);
    for (let i = 0; i < 252; i++)
      assert.equal(
        (await h.call('/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '', Options: {} })).status,
        200,
      );
    const full = await h.call('/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '', Options: {} });
    assert.equal(full.status, 409);
    assert.match(err(full), /is full: all 253 container addresses of slice 250\.3\.4\.0\/24 are allocated/);
    assert.equal(new Set((await h.leases()).map((l) => l.address)).size, 253);
  });

  it('RequestAddress for a pool whose fan changed or went down says so', async () => {
    const h = harness();
    const moved = await h.call('/IpamDriver.RequestAddress', {
      PoolID: 'fan-250:250.9.9.0/24',
      Address: '',
      Options: {},
    });
    assert.equal(moved.status, 400);
    assert.match(err(moved), /pool 250\.9\.9\.0\/24 is no longer this host's slice.*--subnet 250\.3\.4\.0\/24/);
    const gone = await h.call('/IpamDriver.RequestAddress', {
      PoolID: 'fan-240:240.3.4.0/24',
      Address: '',
      Options: {},
    });
    assert.equal(gone.status, 503);
    const junk = await h.call('/IpamDriver.RequestAddress', { PoolID: 'nonsense', Address: '', Options: {} });
    assert.equal(junk.status, 400);
    assert.match(err(junk), /not a fan pool/);
  });

  it("ReleaseAddress frees only the pool's Docker lease of that address, and is idempotent", async () => {
    const h = harness();
    const store = h.storeOf('fan-250', h.fans[0]);
    await store.allocate('cni:fannet:c1', 'eth0', parseIpv4('250.3.4.5'));
    await h.call('/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '250.3.4.6', Options: {} });
    assert.equal((await h.call('/IpamDriver.ReleaseAddress', { PoolID: POOL_ID, Address: '250.3.4.5' })).status, 200);
    assert.equal(
      (await h.call('/IpamDriver.ReleaseAddress', { PoolID: POOL_ID, Address: '250.3.4.6/24' })).status,
      200,
    );
    assert.equal((await h.call('/IpamDriver.ReleaseAddress', { PoolID: POOL_ID, Address: '250.3.4.6' })).status, 200);
    assert.deepEqual(
      (await h.leases()).map((l) => l.owner),
      ['cni:fannet:c1'],
      'the CNI lease stays',
    );
  });

  it("CreateNetwork refuses pools that are not this host's slice, foreign gateways and IPv6", async () => {
    const h = harness();
    const overlay = await h.call('/NetworkDriver.CreateNetwork', {
      NetworkID: NET,
      Options: {},
      IPv4Data: [{ AddressSpace: 'x', Pool: '250.0.0.0/8', Gateway: '250.0.0.1/8' }],
    });
    assert.equal(overlay.status, 400);
    assert.match(
      err(overlay),
      /pool 250\.0\.0\.0\/8 is not this host's slice.*--ipam-driver fan --subnet 250\.3\.4\.0\/24/,
    );
    const gateway = await h.call('/NetworkDriver.CreateNetwork', {
      NetworkID: NET,
      Options: {},
      IPv4Data: [{ AddressSpace: 'x', Pool: SLICE, Gateway: '250.3.4.254/24' }],
    });
    assert.equal(gateway.status, 400);
    assert.match(err(gateway), /gateway 250\.3\.4\.254 is not the fan's/);
    const none = await h.call('/NetworkDriver.CreateNetwork', {
      NetworkID: NET,
      Options: {},
      IPv4Data: null,
      IPv6Data: null,
    });
    assert.equal(none.status, 400);
    const v6 = await h.call('/NetworkDriver.CreateNetwork', {
      NetworkID: NET,
      Options: {},
      IPv4Data: [{ Pool: SLICE, Gateway: '250.3.4.1/24' }],
      IPv6Data: [{ Pool: 'fd00::/64' }],
    });
    assert.equal(v6.status, 400);
    const noBridge = harness({ facts: typicalHost() });
    const damaged = await noBridge.call('/NetworkDriver.CreateNetwork', {
      NetworkID: NET,
      Options: {},
      IPv4Data: [{ Pool: SLICE, Gateway: '250.3.4.1/24' }],
    });
    assert.equal(damaged.status, 503);
    assert.match(err(damaged), /bridge fan-250 is missing.*run fanctl up again/);
  });

  it(`CreateEndpoint keeps a MAC Docker chose (answering an empty Interface) and replaces a leftover veth of the same \
endpoint`, async () => {
    const h = harness();
    const body = {
      NetworkID: NET,
      EndpointID: EP,
      Interface: { Address: '250.3.4.2/24', AddressIPv6: '', MacAddress: '02:42:fa:03:04:02' },
      Options: {},
    };
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

  it("CreateEndpoint refuses an address outside this host's slices and endpoints without an address", async () => {
    const h = harness();
    const outside = await h.call('/NetworkDriver.CreateEndpoint', {
      NetworkID: NET,
      EndpointID: EP,
      Interface: { Address: '10.1.2.3/24' },
    });
    assert.equal(outside.status, 400);
    assert.match(err(outside), /10\.1\.2\.3\/24 is not in this host's slice of any fan.*250\.3\.4\.0\/24 on fan-250/);
    const none = await h.call('/NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: null });
    assert.equal(none.status, 400);
    assert.match(err(none), /has no IPv4 address.*--ipam-driver fan/);
    assert.equal(h.veths.links.size, 0);
  });

  it('Join of an endpoint without a veth is 404; DeleteEndpoint of one is fine (twice)', async () => {
    const h = harness();
    const join = await h.call('/NetworkDriver.Join', {
      NetworkID: NET,
      EndpointID: EP,
      SandboxKey: '/x',
      Options: null,
    });
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
    assert.match(err(shape), /malformed ReleaseAddress request: Address: Address is missing/);
    assert.equal((await h.call('/constructor', {})).status, 404);
  });

  it(`--ip-range: the pool id names the range, addresses come from it, \
the lease is released by its exact pool`, async () => {
    const h = harness();
    const pool = await h.call('/IpamDriver.RequestPool', {
      AddressSpace: 'fan-local',
      Pool: SLICE,
      SubPool: '250.3.4.128/25',
      Options: {},
      V6: false,
    });
    assert.deepEqual(pool.body, { PoolID: `${POOL_ID}:250.3.4.128/25`, Pool: SLICE, Data: {} });
    const id = String(pool.body.PoolID);
    const a = await h.call('/IpamDriver.RequestAddress', { PoolID: id, Address: '', Options: {} });
    assert.deepEqual(
      a.body,
      { Address: '250.3.4.128/24', Data: {} },
      'the first address of the range, the slice prefix',
    );
    const outside = await h.call('/IpamDriver.RequestAddress', { PoolID: id, Address: '250.3.4.7', Options: {} });
    assert.equal(outside.status, 400);
    assert.match(err(outside), /outside the network's --ip-range 250\.3\.4\.128\/25/);
    await h.call('/IpamDriver.ReleaseAddress', { PoolID: POOL_ID, Address: '250.3.4.128' });
    assert.equal((await h.leases()).length, 1, "the plain pool does not release the range pool's lease");
    await h.call('/IpamDriver.ReleaseAddress', { PoolID: id, Address: '250.3.4.128' });
    assert.deepEqual(await h.leases(), []);
  });

  it(`published ports: ProgramExternalConnectivity loads DNAT to the endpoint's address; \
Revoke and Leave remove it`, async () => {
    const h = harness();
    await h.call('/NetworkDriver.CreateEndpoint', {
      NetworkID: NET,
      EndpointID: EP,
      Interface: { Address: '250.3.4.2/24' },
      Options: {},
    });
    const portmap = [
      { Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 8080, HostPortEnd: 8080 },
      { Proto: 17, IP: '', Port: 53, HostIP: '0.0.0.0', HostPort: 5353, HostPortEnd: 5353 },
      { Proto: 6, IP: '', Port: 80, HostIP: '::', HostPort: 8080, HostPortEnd: 8080 },
    ];
    const r = await h.call('/NetworkDriver.ProgramExternalConnectivity', {
      NetworkID: NET,
      EndpointID: EP,
      Options: { 'com.docker.network.portmap': portmap },
    });
    assert.equal(r.status, 200, err(r));
    assert.equal(h.ports.entries.length, 1);
    assert.deepEqual(h.ports.entries[0]?.ports, [
      { proto: 'tcp', hostPort: 8080, port: 80 },
      { proto: 'udp', hostPort: 5353, port: 53 },
    ]);
    assert.equal(h.ports.entries[0] && formatIpv4(h.ports.entries[0].address), '250.3.4.2');
    assert.match(h.logs.join('\n'), /skipping :: port 8080\/tcp: the fan is IPv4/);
    const other = 'f'.repeat(64);
    await h.call('/NetworkDriver.CreateEndpoint', {
      NetworkID: NET,
      EndpointID: other,
      Interface: { Address: '250.3.4.3/24' },
      Options: {},
    });
    const clash = await h.call('/NetworkDriver.ProgramExternalConnectivity', {
      NetworkID: NET,
      EndpointID: other,
      Options: { 'com.docker.network.portmap': [portmap[0]] },
    });
    assert.equal(clash.status, 400);
    assert.match(err(clash), /host port 8080\/tcp is already published for 250\.3\.4\.2/);
    assert.equal(h.ports.applied.length, 1, 'the refused call loaded nothing');
    assert.equal(
      (await h.call('/NetworkDriver.RevokeExternalConnectivity', { NetworkID: NET, EndpointID: EP })).status,
      200,
    );
    assert.deepEqual(h.ports.entries, []);
    assert.deepEqual(h.ports.applied.at(-1), []);
    assert.equal((await h.call('/NetworkDriver.Leave', { NetworkID: NET, EndpointID: EP })).status, 200, 'idempotent');
    assert.equal(h.ports.applied.length, 2, 'nothing left to remove: no reload');
    const none = await h.call('/NetworkDriver.ProgramExternalConnectivity', {
      NetworkID: NET,
      EndpointID: EP,
      Options: null,
    });
    assert.equal(none.status, 200, 'no ports: nothing to do');
    assert.equal(h.ports.applied.length, 2);
  });

  it(`reclaims Docker leases dockerd does not hold (after the grace period); \
CNI leases and held ones stay`, async () => {
    const held = new Set([parseIpv4('250.3.4.2')]);
    const h = harness({ dockerAddresses: () => Promise.resolve(held) });
    const store = h.storeOf('fan-250', h.fans[0]);
    await store.allocate('cni:fannet:c1', 'eth0', parseIpv4('250.3.4.9'));
    for (const a of ['250.3.4.2', '250.3.4.3'])
      await h.call('/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: a, Options: {} });
    const { reclaimLeases } = await import('../app/docker.js');
    const freed = await reclaimLeases(h.deps);
    assert.deepEqual(
      freed.map((l) => formatIpv4(l.address)),
      ['250.3.4.3'],
    );
    assert.deepEqual((await h.leases()).map((l) => formatIpv4(l.address)).sort(), ['250.3.4.2', '250.3.4.9']);
    const young = harness({ dockerAddresses: () => Promise.resolve(new Set<number>()), graceMs: 24 * 3600_000 });
    await young.call('/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '', Options: {} });
    assert.deepEqual(await reclaimLeases(young.deps), [], 'a lease younger than the grace period stays');
  });

  it('a full pool reclaims abandoned leases once and retries; without dockerd it stays full', async () => {
    const h = harness({ dockerAddresses: () => Promise.resolve(new Set<number>()) });
    const id = `${POOL_ID}:250.3.4.8/30`;
    for (let i = 0; i < 4; i++)
      assert.equal((await h.call('/IpamDriver.RequestAddress', { PoolID: id, Address: '', Options: {} })).status, 200);
    const more = await h.call('/IpamDriver.RequestAddress', { PoolID: id, Address: '', Options: {} });
    assert.equal(more.status, 200, err(more));
    assert.equal((await h.leases()).length, 1, 'the four abandoned leases were reclaimed, one new one given');
    const plain = harness();
    for (let i = 0; i < 4; i++)
      await plain.call('/IpamDriver.RequestAddress', { PoolID: id, Address: '', Options: {} });
    const full = await plain.call('/IpamDriver.RequestAddress', { PoolID: id, Address: '', Options: {} });
    assert.equal(full.status, 409);
    assert.match(err(full), /is full: all 4 container addresses/);
  });
  it(`a vxlan-fast fan gets the endpoint in the accelerator map at CreateEndpoint and out at \
DeleteEndpoint`, async () => {
    for (const [type, expected] of [
      ['vxlan-fast', true],
      ['vxlan', false],
    ] as const) {
      const h = harness({ fans: [`-o 250.0.0.0/8 -u 172.16.0.0/16 --type ${type}`] });
      const body = {
        NetworkID: NET,
        EndpointID: EP,
        Interface: { Address: '250.3.4.9/24', MacAddress: '' },
        Options: {},
      };
      assert.equal((await h.call('/NetworkDriver.CreateEndpoint', body)).status, 200);
      assert.equal((await h.call('/NetworkDriver.DeleteEndpoint', { NetworkID: NET, EndpointID: EP })).status, 200);
      const { hostIf } = dockerVethNames(EP);
      assert.deepEqual(
        h.veths.peerMap,
        expected ? [{ address: parseIpv4('250.3.4.9'), hostIf }, { address: parseIpv4('250.3.4.9') }] : [],
        `${type}: entered at create, removed at delete`,
      );
    }
  });
});

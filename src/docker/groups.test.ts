import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../core/errors.js';
import { poolOf } from '../core/ipam/pool.js';
import { groupPool, ungroupedPool } from '../core/policy/group-pool.js';
import { parsePolicy } from '../core/policy/parse.js';
import { parsePoolId } from '../core/attach/pools.js';
import { NET, POOL_ID, SLICE, harness } from '../testing/docker-plugin.js';

const POLICY = parsePolicy(
  'default: isolate\ngroups:\n  web: { index: 10-12 }\n  admin: { cidr: [172.30.255.0/24] }\n',
  'policy.yaml',
);
const withGroups = () =>
  harness({
    groupPool: (fan, group) => Promise.resolve(groupPool(poolOf(fan), POLICY, group)),
    ungroupedPool: (fan) => Promise.resolve(ungroupedPool(poolOf(fan), POLICY) ?? poolOf(fan)),
  });
const noPolicy = () =>
  harness({
    groupPool: (_fan, group) =>
      Promise.reject(new ConfigError(`group "${group}" was asked for, but no policy is applied on this host`)),
  });

const requestPool = (options: Record<string, unknown>) => ({
  AddressSpace: 'fan-local',
  Pool: SLICE,
  SubPool: '',
  Options: options,
  V6: false,
});

describe('Docker networks of a policy group (fan.group)', () => {
  it('--ipam-opt fan.group=web: the pool id names the group and addresses come from its index range', async () => {
    const h = withGroups();
    const pool = await h.call('/IpamDriver.RequestPool', requestPool({ 'fan.group': 'web' }));
    assert.equal(pool.status, 200);
    assert.equal(pool.body.PoolID, `${POOL_ID}@web`);
    assert.equal(pool.body.Pool, SLICE);
    assert.equal(parsePoolId(String(pool.body.PoolID)).group, 'web');
    const got: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await h.call('/IpamDriver.RequestAddress', { PoolID: pool.body.PoolID, Address: '', Options: {} });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      got.push(String(r.body.Address));
    }
    assert.deepEqual(got, ['250.3.4.10/24', '250.3.4.11/24', '250.3.4.12/24']);
    const full = await h.call('/IpamDriver.RequestAddress', { PoolID: pool.body.PoolID, Address: '', Options: {} });
    assert.notEqual(full.status, 200, 'the group range is exhausted, the rest of the slice is not used');
    // a static address outside the group is refused
    const outside = await h.call('/IpamDriver.RequestAddress', {
      PoolID: `${POOL_ID}@web`,
      Address: '250.3.4.40',
      Options: {},
    });
    assert.notEqual(outside.status, 200);
    // ReleaseAddress frees the group lease
    const rel = await h.call('/IpamDriver.ReleaseAddress', { PoolID: `${POOL_ID}@web`, Address: '250.3.4.11' });
    assert.equal(rel.status, 200);
    const again = await h.call('/IpamDriver.RequestAddress', { PoolID: `${POOL_ID}@web`, Address: '', Options: {} });
    assert.equal(again.body.Address, '250.3.4.11/24');
  });

  it('a network of no group hands out no address of a group range', async () => {
    const h = withGroups();
    const pool = await h.call('/IpamDriver.RequestPool', requestPool({}));
    assert.equal(pool.body.PoolID, POOL_ID);
    const got: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await h.call('/IpamDriver.RequestAddress', { PoolID: POOL_ID, Address: '', Options: {} });
      got.push(String(r.body.Address).split('/')[0]?.split('.')[3] ?? '');
    }
    assert.deepEqual(got, ['2', '3', '4', '5', '6', '7', '8', '9', '13', '14', '15', '16']);
  });

  it('an unknown group, a CIDR group, no policy and a bad name fail network create with a clear error', async () => {
    const unknown = await withGroups().call('/IpamDriver.RequestPool', requestPool({ 'fan.group': 'db' }));
    assert.equal(unknown.status, 400);
    assert.match(String(unknown.body.Err), /group "db" is not in the applied policy.*web/s);
    const cidr = await withGroups().call('/IpamDriver.RequestPool', requestPool({ 'fan.group': 'admin' }));
    assert.match(String(cidr.body.Err), /CIDR group/);
    const none = await noPolicy().call('/IpamDriver.RequestPool', requestPool({ 'fan.group': 'web' }));
    assert.match(String(none.body.Err), /no policy is applied/);
    const bad = await withGroups().call('/IpamDriver.RequestPool', requestPool({ 'fan.group': 'Web!' }));
    assert.match(String(bad.body.Err), /--ipam-opt fan\.group=Web! is not a group name/);
    const plain = await harness().call('/IpamDriver.RequestPool', requestPool({ 'fan.group': 'web' }));
    assert.match(String(plain.body.Err), /no policy groups/);
  });

  it('-o fan.group=web is checked by CreateNetwork', async () => {
    const create = (group: string) =>
      withGroups().call('/NetworkDriver.CreateNetwork', {
        NetworkID: NET,
        Options: { 'com.docker.network.generic': { 'fan.group': group } },
        IPv4Data: [{ AddressSpace: 'fan-local', Gateway: '250.3.4.1/24', Pool: SLICE }],
        IPv6Data: [],
      });
    assert.equal((await create('web')).status, 200);
    const unknown = await create('db');
    assert.notEqual(unknown.status, 200);
    assert.match(String(unknown.body.Err), /group "db" is not in the applied policy/);
  });

  it('-o fan.group=web alone: an endpoint outside the range is refused naming the fix; inside passes', async () => {
    const h = withGroups();
    const network = {
      NetworkID: NET,
      Options: { 'com.docker.network.generic': { 'fan.group': 'web' } },
      IPv4Data: [{ AddressSpace: 'fan-local', Gateway: '250.3.4.1/24', Pool: SLICE }],
      IPv6Data: [],
    };
    assert.equal((await h.call('/NetworkDriver.CreateNetwork', network)).status, 200);
    assert.equal(h.groupOfNetwork.get(NET), 'web');
    const endpoint = (id: string, address: string) =>
      h.call('/NetworkDriver.CreateEndpoint', {
        NetworkID: NET,
        EndpointID: id.repeat(64),
        Interface: { Address: address, MacAddress: '' },
        Options: {},
      });
    const outside = await endpoint('1', '250.3.4.40/24');
    assert.notEqual(outside.status, 200);
    const why = /created with -o fan\.group=web, but its address 250\.3\.4\.40 is outside/;
    assert.match(String(outside.body.Err), why);
    assert.match(String(outside.body.Err), /--ipam-opt fan\.group=web/);
    assert.equal(h.veths.links.size, 0, 'nothing was created');
    assert.equal((await endpoint('2', '250.3.4.11/24')).status, 200);
    assert.equal((await h.call('/NetworkDriver.DeleteNetwork', { NetworkID: NET })).status, 200);
    assert.equal(h.groupOfNetwork.has(NET), false, 'DeleteNetwork forgets the group');
  });

  it('a pool id with a malformed group is not a fan pool', () => {
    assert.throws(() => parsePoolId(`${POOL_ID}@Web`), /not a fan pool/);
    assert.throws(() => parsePoolId(`${POOL_ID}@web@db`), /not a fan pool/);
    assert.equal(parsePoolId(`${POOL_ID}:250.3.4.128/25@web`).range?.prefix, 25);
  });
});

/**
 * A corpus of bad Docker plugin API requests against the handlers with fakes: every one gets a 4xx answer with
 * `{"Err": "fan: <problem> (fix: <hint>)"}`, no stack trace or raw tool output, and nothing is created (no veth,
 * no lease, no published port, no file). The path-traversal case also runs against the real lease files.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { after, describe, it } from 'node:test';
import { openLeaseStore, openLeaseStoreByBridge } from '../store/lease-file.js';
import { dispatchDockerCall } from './dispatcher.js';
import { fanDockerPlugin } from './plugin.js';
import { EP, NET, POOL_ID, SLICE, harness } from '../testing/docker-plugin.js';

interface BadRequest {
  readonly name: string;
  readonly path: string;
  /** A string is sent as is; anything else as JSON. */
  readonly body: unknown;
  /** What the error must say. */
  readonly says: RegExp;
  readonly status?: number;
}

const TRAVERSAL = '../../../../some/dir/x:250.0.27.0/24';
const LONG = 'e'.repeat(1000);
const iface = (over: Record<string, string>): Record<string, string> => ({
  Address: '250.3.4.2/24',
  AddressIPv6: '',
  MacAddress: '',
  ...over,
});
const endpoint = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  NetworkID: NET,
  EndpointID: EP,
  Interface: iface({}),
  Options: {},
  ...over,
});
const binding = (over: Record<string, unknown>): Record<string, unknown> => ({
  Proto: 6,
  IP: '',
  Port: 80,
  HostIP: '',
  HostPort: 8080,
  HostPortEnd: 8080,
  ...over,
});
const connectivity = (bindings: unknown): Record<string, unknown> => ({
  NetworkID: NET,
  EndpointID: EP,
  Options: { 'com.docker.network.portmap': bindings },
});
const pool = (over: Record<string, unknown>): Record<string, unknown> => ({
  AddressSpace: 'fan-local',
  Pool: SLICE,
  SubPool: '',
  Options: {},
  V6: false,
  ...over,
});
const address = (over: Record<string, unknown>): Record<string, unknown> => ({
  PoolID: POOL_ID,
  Address: '',
  Options: {},
  ...over,
});

const CORPUS: readonly BadRequest[] = [
  // ---- RequestPool ----
  { name: 'body not JSON', path: '/IpamDriver.RequestPool', body: '{nope', says: /is not JSON/ },
  {
    name: 'body a JSON array',
    path: '/IpamDriver.RequestPool',
    body: [],
    says: /malformed RequestPool request: \(body\): Expected object/,
  },
  {
    name: 'body a JSON string',
    path: '/IpamDriver.RequestPool',
    body: '"x"',
    says: /Expected object, received string/,
  },
  {
    name: 'V6 not a boolean',
    path: '/IpamDriver.RequestPool',
    body: pool({ V6: 'yes' }),
    says: /V6: Expected boolean/,
  },
  { name: 'Pool a number', path: '/IpamDriver.RequestPool', body: pool({ Pool: 42 }), says: /Pool: Expected string/ },
  {
    name: 'Pool not a prefix',
    path: '/IpamDriver.RequestPool',
    body: pool({ Pool: 'not-a-cidr' }),
    says: /--subnet "not-a-cidr" is malformed/,
  },
  {
    name: 'Pool prefix over 32',
    path: '/IpamDriver.RequestPool',
    body: pool({ Pool: '250.3.4.0/33' }),
    says: /--subnet "250\.3\.4\.0\/33" is malformed/,
  },
  {
    name: 'SubPool junk',
    path: '/IpamDriver.RequestPool',
    body: pool({ SubPool: 'junk' }),
    says: /--ip-range "junk" is malformed/,
  },
  {
    name: 'SubPool outside the slice',
    path: '/IpamDriver.RequestPool',
    body: pool({ SubPool: '250.3.5.0/25' }),
    says: /--ip-range 250\.3\.5\.0\/25 is not inside this host's slice/,
  },
  {
    name: 'SubPool wider than the slice',
    path: '/IpamDriver.RequestPool',
    body: pool({ SubPool: '250.3.0.0/16' }),
    says: /is not inside this host's slice/,
  },
  {
    name: 'IPv6 pool',
    path: '/IpamDriver.RequestPool',
    body: pool({ Pool: 'fd00::/64', V6: true }),
    says: /no IPv6 pools/,
  },
  // ---- ReleasePool ----
  {
    name: 'ReleasePool traversal',
    path: '/IpamDriver.ReleasePool',
    body: { PoolID: TRAVERSAL },
    says: /PoolID "\.\.\/\.\.\/.*" is not a fan pool id/,
  },
  {
    name: 'ReleasePool empty PoolID',
    path: '/IpamDriver.ReleasePool',
    body: { PoolID: '' },
    says: /PoolID "" is not a fan pool id/,
  },
  { name: 'ReleasePool no PoolID', path: '/IpamDriver.ReleasePool', body: {}, says: /PoolID: PoolID is missing/ },
  // ---- RequestAddress ----
  {
    name: 'RequestAddress traversal',
    path: '/IpamDriver.RequestAddress',
    body: address({ PoolID: TRAVERSAL }),
    says: /is not a fan pool id/,
  },
  {
    name: 'PoolID with a slash',
    path: '/IpamDriver.RequestAddress',
    body: address({ PoolID: 'fan-250/../x:250.3.4.0/24' }),
    says: /is not a fan pool id/,
  },
  {
    name: 'PoolID with NUL',
    path: '/IpamDriver.RequestAddress',
    body: address({ PoolID: 'fan-250\u0000:250.3.4.0/24' }),
    says: /is not a fan pool id/,
  },
  {
    name: 'PoolID with four parts',
    path: '/IpamDriver.RequestAddress',
    body: address({ PoolID: `${POOL_ID}:${SLICE}:x` }),
    says: /is not a fan pool id/,
  },
  {
    name: 'PoolID with a bad slice',
    path: '/IpamDriver.RequestAddress',
    body: address({ PoolID: 'fan-250:999.3.4.0/24' }),
    says: /is not a fan pool id/,
  },
  {
    name: 'PoolID bridge "."',
    path: '/IpamDriver.RequestAddress',
    body: address({ PoolID: '.:250.3.4.0/24' }),
    says: /is not a fan pool id/,
  },
  {
    name: 'PoolID bridge ".."',
    path: '/IpamDriver.RequestAddress',
    body: address({ PoolID: '..:250.3.4.0/24' }),
    says: /is not a fan pool id/,
  },
  {
    name: 'PoolID bridge too long',
    path: '/IpamDriver.RequestAddress',
    body: address({ PoolID: `${'b'.repeat(16)}:${SLICE}` }),
    says: /is not a fan pool id/,
  },
  {
    name: 'PoolID 1000 characters',
    path: '/IpamDriver.RequestAddress',
    body: address({ PoolID: 'p'.repeat(1000) }),
    says: /PoolID "p{40}…" is not a fan pool id/,
  },
  {
    name: 'PoolID a number',
    path: '/IpamDriver.RequestAddress',
    body: address({ PoolID: 7 }),
    says: /PoolID must be a string/,
  },
  {
    name: 'Address octet over 255',
    path: '/IpamDriver.RequestAddress',
    body: address({ Address: '250.3.4.300' }),
    says: /Address "250\.3\.4\.300" is not an IPv4 address/,
  },
  {
    name: 'Address words',
    path: '/IpamDriver.RequestAddress',
    body: address({ Address: 'abc' }),
    says: /Address "abc" is not an IPv4 address/,
  },
  {
    name: 'Address prefix 99',
    path: '/IpamDriver.RequestAddress',
    body: address({ Address: '250.3.4.5/99' }),
    says: /is not an IPv4 address/,
  },
  {
    name: 'Address with leading zeros',
    path: '/IpamDriver.RequestAddress',
    body: address({ Address: '250.3.4.05' }),
    says: /is not an IPv4 address/,
  },
  {
    name: 'Address outside the slice',
    path: '/IpamDriver.RequestAddress',
    body: address({ Address: '250.3.5.7' }),
    says: /250\.3\.5\.7 is outside this host's slice/,
  },
  {
    name: 'Address the bridge',
    path: '/IpamDriver.RequestAddress',
    body: address({ Address: '250.3.4.1' }),
    says: /host reserve/,
  },
  {
    name: 'Options value not a string',
    path: '/IpamDriver.RequestAddress',
    body: address({ Options: { RequestAddressType: 5 } }),
    says: /Options\.RequestAddressType: Expected string/,
  },
  {
    name: 'range outside its slice',
    path: '/IpamDriver.RequestAddress',
    body: address({ PoolID: `${POOL_ID}:250.3.5.0/25` }),
    says: /ip range outside its slice/,
  },
  { name: 'null body', path: '/IpamDriver.RequestAddress', body: 'null', says: /PoolID: PoolID is missing/ },
  // ---- ReleaseAddress ----
  {
    name: 'ReleaseAddress traversal (the reported case)',
    path: '/IpamDriver.ReleaseAddress',
    body: { PoolID: TRAVERSAL, Address: '250.0.27.5' },
    says: /is not a fan pool id/,
  },
  {
    name: 'ReleaseAddress no Address',
    path: '/IpamDriver.ReleaseAddress',
    body: { PoolID: POOL_ID },
    says: /Address: Address is missing/,
  },
  {
    name: 'ReleaseAddress Address a path',
    path: '/IpamDriver.ReleaseAddress',
    body: { PoolID: POOL_ID, Address: '../x' },
    says: /Address "\.\.\/x" is not an IPv4 address/,
  },
  {
    name: 'ReleaseAddress IPv6',
    path: '/IpamDriver.ReleaseAddress',
    body: { PoolID: POOL_ID, Address: 'fd00::1' },
    says: /is not an IPv4 address/,
  },
  // ---- CreateNetwork ----
  {
    name: 'NetworkID with a space',
    path: '/NetworkDriver.CreateNetwork',
    body: { NetworkID: 'abc def', IPv4Data: [{ Pool: SLICE, Gateway: '250.3.4.1/24' }] },
    says: /NetworkID "abc def" is not a Docker id/,
  },
  {
    name: 'NetworkID 1000 characters',
    path: '/NetworkDriver.CreateNetwork',
    body: { NetworkID: LONG, IPv4Data: [] },
    says: /NetworkID "e{40}…" is not a Docker id/,
  },
  {
    name: 'NetworkID upper-case hex',
    path: '/NetworkDriver.CreateNetwork',
    body: { NetworkID: NET.toUpperCase(), IPv4Data: [] },
    says: /is not a Docker id/,
  },
  {
    name: 'NetworkID a path',
    path: '/NetworkDriver.CreateNetwork',
    body: { NetworkID: '../../etc', IPv4Data: [] },
    says: /is not a Docker id/,
  },
  {
    name: 'NetworkID missing',
    path: '/NetworkDriver.CreateNetwork',
    body: { IPv4Data: [] },
    says: /NetworkID is missing/,
  },
  {
    name: 'IPv4Data Pool junk',
    path: '/NetworkDriver.CreateNetwork',
    body: { NetworkID: NET, IPv4Data: [{ Pool: 'junk' }] },
    says: /Pool "junk" is not an IPv4 prefix/,
  },
  {
    name: 'IPv4Data Gateway short',
    path: '/NetworkDriver.CreateNetwork',
    body: { NetworkID: NET, IPv4Data: [{ Pool: SLICE, Gateway: '1.2.3' }] },
    says: /Gateway "1\.2\.3" is not an IPv4 prefix/,
  },
  {
    name: 'IPv4Data not an array',
    path: '/NetworkDriver.CreateNetwork',
    body: { NetworkID: NET, IPv4Data: 'x' },
    says: /IPv4Data: Expected array/,
  },
  {
    name: 'two pools',
    path: '/NetworkDriver.CreateNetwork',
    body: { NetworkID: NET, IPv4Data: [{ Pool: SLICE }, { Pool: '250.3.5.0/24' }] },
    says: /exactly one IPv4 pool \(got 2\)/,
  },
  // ---- CreateEndpoint ----
  {
    name: 'CreateEndpoint NetworkID with a space (leaked a veth)',
    path: '/NetworkDriver.CreateEndpoint',
    body: endpoint({ NetworkID: 'net work' }),
    says: /NetworkID "net work" is not a Docker id/,
  },
  {
    name: 'EndpointID 1000 characters',
    path: '/NetworkDriver.CreateEndpoint',
    body: endpoint({ EndpointID: LONG }),
    says: /EndpointID "e{40}…" is not a Docker id/,
  },
  {
    name: 'EndpointID with a newline',
    path: '/NetworkDriver.CreateEndpoint',
    body: endpoint({ EndpointID: `${EP.slice(1)}\n` }),
    says: /is not a Docker id/,
  },
  {
    name: 'EndpointID with a quote',
    path: '/NetworkDriver.CreateEndpoint',
    body: endpoint({ EndpointID: `"${EP.slice(1)}` }),
    says: /is not a Docker id/,
  },
  {
    name: 'MAC not hex',
    path: '/NetworkDriver.CreateEndpoint',
    body: endpoint({ Interface: iface({ MacAddress: 'zz:zz:zz:zz:zz:zz' }) }),
    says: /MacAddress "zz:zz:zz:zz:zz:zz" is not a unicast MAC/,
  },
  {
    name: 'MAC broadcast',
    path: '/NetworkDriver.CreateEndpoint',
    body: endpoint({ Interface: iface({ MacAddress: 'ff:ff:ff:ff:ff:ff' }) }),
    says: /is not a unicast MAC/,
  },
  {
    name: 'MAC multicast',
    path: '/NetworkDriver.CreateEndpoint',
    body: endpoint({ Interface: iface({ MacAddress: '01:00:5e:00:00:01' }) }),
    says: /is not a unicast MAC/,
  },
  {
    name: 'MAC all zero',
    path: '/NetworkDriver.CreateEndpoint',
    body: endpoint({ Interface: iface({ MacAddress: '00:00:00:00:00:00' }) }),
    says: /is not a unicast MAC/,
  },
  {
    name: 'MAC five octets',
    path: '/NetworkDriver.CreateEndpoint',
    body: endpoint({ Interface: iface({ MacAddress: '02:42:ac:11:00' }) }),
    says: /is not a unicast MAC/,
  },
  {
    name: 'MAC with an option',
    path: '/NetworkDriver.CreateEndpoint',
    body: endpoint({ Interface: iface({ MacAddress: '02:42:ac:11:00:02 up' }) }),
    says: /is not a unicast MAC/,
  },
  {
    name: 'Address without a prefix',
    path: '/NetworkDriver.CreateEndpoint',
    body: endpoint({ Interface: iface({ Address: '250.3.4.2' }) }),
    says: /Interface\.Address "250\.3\.4\.2" is not an IPv4 prefix/,
  },
  {
    name: 'Interface.Address words',
    path: '/NetworkDriver.CreateEndpoint',
    body: endpoint({ Interface: iface({ Address: 'x/24' }) }),
    says: /is not an IPv4 prefix/,
  },
  {
    name: 'IPv6 address',
    path: '/NetworkDriver.CreateEndpoint',
    body: endpoint({ Interface: iface({ AddressIPv6: 'fd00::2/64' }) }),
    says: /has no IPv6/,
  },
  {
    name: 'Address outside the slices',
    path: '/NetworkDriver.CreateEndpoint',
    body: endpoint({ Interface: iface({ Address: '10.1.2.3/24' }) }),
    says: /is not in this host's slice of any fan/,
  },
  {
    name: 'no address',
    path: '/NetworkDriver.CreateEndpoint',
    body: endpoint({ Interface: null }),
    says: /has no IPv4 address/,
  },
  // ---- Join, Leave, DeleteEndpoint, EndpointOperInfo ----
  {
    name: 'Join EndpointID a command',
    path: '/NetworkDriver.Join',
    body: { NetworkID: NET, EndpointID: '$(reboot)' },
    says: /EndpointID "\$\(reboot\)" is not a Docker id/,
  },
  {
    name: 'Join NetworkID null',
    path: '/NetworkDriver.Join',
    body: { NetworkID: null, EndpointID: EP },
    says: /NetworkID must be a string/,
  },
  {
    name: 'Join of an endpoint that is not there',
    path: '/NetworkDriver.Join',
    body: { NetworkID: NET, EndpointID: EP },
    says: /has no veth here/,
    status: 404,
  },
  {
    name: 'DeleteEndpoint EndpointID with a slash',
    path: '/NetworkDriver.DeleteEndpoint',
    body: { NetworkID: NET, EndpointID: `${EP.slice(2)}/x` },
    says: /is not a Docker id/,
  },
  {
    name: 'Leave EndpointID empty',
    path: '/NetworkDriver.Leave',
    body: { NetworkID: NET, EndpointID: '' },
    says: /EndpointID "" is not a Docker id/,
  },
  {
    name: 'EndpointOperInfo bad ids',
    path: '/NetworkDriver.EndpointOperInfo',
    body: { NetworkID: 'x', EndpointID: 'y' },
    says: /NetworkID "x" is not a Docker id.*; EndpointID "y" is not a Docker id/,
  },
  {
    name: 'DeleteNetwork NetworkID with a space',
    path: '/NetworkDriver.DeleteNetwork',
    body: { NetworkID: 'a b' },
    says: /is not a Docker id/,
  },
  // ---- ProgramExternalConnectivity, RevokeExternalConnectivity ----
  {
    name: 'port protocol 99',
    path: '/NetworkDriver.ProgramExternalConnectivity',
    body: connectivity([binding({ Proto: 99 })]),
    says: /protocol 99 is not tcp \(6\), udp \(17\) or sctp \(132\)/,
  },
  {
    name: 'host port 70000',
    path: '/NetworkDriver.ProgramExternalConnectivity',
    body: connectivity([binding({ HostPort: 70000 })]),
    says: /host port 70000 is not between 1 and 65535/,
  },
  {
    name: 'container port 0',
    path: '/NetworkDriver.ProgramExternalConnectivity',
    body: connectivity([binding({ Port: 0 })]),
    says: /container port 0 is not between 1 and 65535/,
  },
  {
    name: 'host port left to the driver',
    path: '/NetworkDriver.ProgramExternalConnectivity',
    body: connectivity([binding({ HostPort: 0 })]),
    says: /asks for a host port .*fix: name the host port: -p HOSTPORT:80\/tcp/,
  },
  {
    name: 'HostIP malformed',
    path: '/NetworkDriver.ProgramExternalConnectivity',
    body: connectivity([binding({ HostIP: '999.1.1.1' })]),
    says: /HostIP "999\.1\.1\.1" is malformed/,
  },
  {
    name: 'portmap not an array',
    path: '/NetworkDriver.ProgramExternalConnectivity',
    body: connectivity('8080:80'),
    says: /portmap: Expected array/,
  },
  {
    name: 'port binding without Port',
    path: '/NetworkDriver.ProgramExternalConnectivity',
    body: connectivity([{ Proto: 6, HostPort: 8080 }]),
    says: /Port: Required/,
  },
  {
    name: 'port fractional',
    path: '/NetworkDriver.ProgramExternalConnectivity',
    body: connectivity([binding({ Port: 80.5 })]),
    says: /Expected integer/,
  },
  {
    name: 'ports for an endpoint that is not there',
    path: '/NetworkDriver.ProgramExternalConnectivity',
    body: connectivity([binding({})]),
    says: /has no veth here/,
    status: 404,
  },
  {
    name: 'RevokeExternalConnectivity bad NetworkID',
    path: '/NetworkDriver.RevokeExternalConnectivity',
    body: { NetworkID: 'n', EndpointID: EP },
    says: /NetworkID "n" is not a Docker id/,
  },
  // ---- paths ----
  {
    name: 'unknown call',
    path: '/NetworkDriver.AllocateNetwork',
    body: {},
    says: /no handler for \/NetworkDriver\.AllocateNetwork/,
    status: 404,
  },
  { name: 'prototype path', path: '/__proto__', body: {}, says: /no handler for/, status: 404 },
];

describe('Docker plugin: a corpus of bad requests', () => {
  it(`has at least 51 cases (${CORPUS.length})`, () => {
    assert.ok(CORPUS.length >= 51);
    assert.equal(new Set(CORPUS.map((c) => c.name)).size, CORPUS.length, 'names are unique');
  });

  for (const c of CORPUS) {
    it(`${c.path} ${c.name}: 4xx, a clear error, nothing created`, async () => {
      const h = harness();
      const r = await h.call(c.path, typeof c.body === 'string' ? c.body : JSON.stringify(c.body));
      const message = String(r.body.Err);
      assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}: ${message}`);
      if (c.status !== undefined) assert.equal(r.status, c.status);
      assert.deepEqual(Object.keys(r.body), ['Err']);
      assert.match(message, /^fan: .+ \(fix: .+\)$/s, 'problem and fix');
      assert.match(message, c.says);
      assert.ok(
        !/\n\s+at |RTNETLINK|Command failed|unexpected error/.test(message),
        `no stack trace or raw tool output: ${message}`,
      );
      assert.ok(message.length < 700, `short enough to read (${message.length})`);
      assert.equal(h.veths.links.size, 0, 'no veth');
      assert.deepEqual(await h.leases(), [], 'no lease');
      assert.deepEqual(h.ports.entries, [], 'no published port');
      assert.deepEqual(h.ports.applied, [], 'no nftables change');
    });
  }
});

describe('Docker plugin: the PoolID path traversal against the real lease files', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it(`ReleaseAddress and RequestAddress with "../../../../some/dir/x:…" are refused and write nothing \
anywhere`, async () => {
    const base = await mkdtemp(`${tmpdir()}/fan-traversal-`);
    dirs.push(base);
    const stateDir = `${base}/a/b/c/d/state`;
    const h = harness();
    const handlers = fanDockerPlugin({
      ...h.deps,
      leases: (fan, p) => openLeaseStore(stateDir, fan, p),
      leasesOfBridge: (b) => openLeaseStoreByBridge(stateDir, b),
    });
    for (const [path, body] of [
      ['/IpamDriver.ReleaseAddress', { PoolID: TRAVERSAL, Address: '250.0.27.5' }],
      ['/IpamDriver.RequestAddress', { PoolID: TRAVERSAL, Address: '', Options: {} }],
      ['/IpamDriver.ReleasePool', { PoolID: TRAVERSAL }],
    ] as const) {
      const r = await dispatchDockerCall(handlers, path, JSON.stringify(body));
      assert.equal(r.status, 400, path);
    }
    assert.deepEqual(await readdir(base), [], 'nothing was created under the base directory');
    assert.equal(existsSync(`${base}/a/b/c/d/some`), false);
    // A good pool id does use the state dir: the check above is not vacuous.
    const ok = await dispatchDockerCall(
      handlers,
      '/IpamDriver.RequestAddress',
      JSON.stringify({ PoolID: POOL_ID, Address: '', Options: {} }),
    );
    assert.equal(ok.status, 200);
    assert.deepEqual(await readdir(`${stateDir}/ipam`), ['fan-250.json']);
  });
});

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { after, describe, it } from 'node:test';
import { formatIpv4 } from '../core/address/ipv4.js';
import { dockerFanAddresses } from './engine.js';

const FAN_NET = 'a'.repeat(64);
const BRIDGE_NET = 'b'.repeat(64);

/** A stand-in for dockerd's API: two networks, one on the fan IPAM. */
function fakeDockerd(socket: string, answers: Record<string, unknown>): Promise<Server> {
  const server = createServer((req, res) => {
    const body = answers[req.url ?? ''];
    res.writeHead(body === undefined ? 404 : 200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body ?? { message: 'no such thing' }));
  });
  return new Promise((resolve) => server.listen(socket, () => resolve(server)));
}

describe('dockerd API client (which addresses Docker holds)', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('collects endpoint, gateway and aux addresses of fan-IPAM networks only', async () => {
    const dir = await mkdtemp(`${tmpdir()}/fan-engine-`);
    dirs.push(dir);
    const fanNet = {
      Id: FAN_NET,
      IPAM: {
        Driver: 'fan',
        Config: [{ Subnet: '250.3.4.0/24', Gateway: '250.3.4.1', AuxiliaryAddresses: { a: '250.3.4.50' } }],
      },
    };
    const server = await fakeDockerd(`${dir}/docker.sock`, {
      '/networks': [fanNet, { Id: BRIDGE_NET, IPAM: { Driver: 'default', Config: [{ Subnet: '172.17.0.0/16' }] } }],
      [`/networks/${FAN_NET}`]: {
        ...fanNet,
        Containers: { c1: { IPv4Address: '250.3.4.2/24', IPv6Address: '' }, c2: { IPv4Address: '250.3.4.3/24' } },
      },
    });
    try {
      const held = await dockerFanAddresses(`${dir}/docker.sock`);
      assert.deepEqual([...held].map(formatIpv4).sort(), ['250.3.4.1', '250.3.4.2', '250.3.4.3', '250.3.4.50']);
    } finally {
      server.close();
    }
  });

  it('fails with a clear error when dockerd is not there or answers something else', async () => {
    const dir = await mkdtemp(`${tmpdir()}/fan-engine-`);
    dirs.push(dir);
    await assert.rejects(dockerFanAddresses(`${dir}/none.sock`), /cannot reach dockerd at .*none\.sock/);
    const server = await fakeDockerd(`${dir}/odd.sock`, { '/networks': { not: 'a list' } });
    try {
      await assert.rejects(dockerFanAddresses(`${dir}/odd.sock`), /network list has an unexpected shape/);
    } finally {
      server.close();
    }
  });
});

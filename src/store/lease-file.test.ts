import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { formatIpv4, parseIpv4 } from '../core/address/ipv4.js';
import { IpamError } from '../core/ipam/allocator.js';
import { makePool } from '../core/ipam/pool.js';
import { cidrOf } from '../testing/builders.js';
import type { LeaseStore } from '../ports/leases.js';
import { FileLeaseStore, leaseBridges, leaseFilePath, openLeaseStoreByBridge } from './lease-file.js';
import { MemoryLeaseStore } from './memory-leases.js';

const pool = makePool({ label: 'fan 250.0.0.0/8 (bridge fan-250)', slice: cidrOf('250.3.4.0/24'), hostReserve: 1 });
const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fan-ipam-'));
  dirs.push(dir);
  return dir;
}
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** The same behaviour is required of both implementations. */
const implementations: [string, () => Promise<LeaseStore>][] = [
  ['FileLeaseStore', async () => new FileLeaseStore(leaseFilePath(await tempDir(), 'fan-250'), pool)],
  ['MemoryLeaseStore', () => Promise.resolve(new MemoryLeaseStore(pool))],
];

for (const [name, make] of implementations) {
  describe(name, () => {
    it('gives concurrent callers distinct addresses, and the same one to a repeated key', async () => {
      const store = await make();
      const leases = await Promise.all(Array.from({ length: 60 }, (_, i) => store.allocate(`cni:n:c${i}`, 'eth0')));
      assert.equal(new Set(leases.map((l) => l.address)).size, 60);
      const again = await store.allocate('cni:n:c7', 'eth0');
      assert.equal(again.address, leases[7]?.address);
      assert.equal((await store.list()).length, 60);
    });

    it('releases idempotently and reuses addresses only after the others', async () => {
      const store = await make();
      const a = await store.allocate('a', 'eth0');
      assert.equal(formatIpv4(a.address), '250.3.4.2');
      assert.equal((await store.release('a', 'eth0'))?.address, a.address);
      assert.equal(await store.release('a', 'eth0'), undefined);
      assert.equal(await store.release('never', 'eth0'), undefined);
      assert.equal(formatIpv4((await store.allocate('b', 'eth0')).address), '250.3.4.3');
    });

    it('honours static requests and refuses bad ones', async () => {
      const store = await make();
      assert.equal(formatIpv4((await store.allocate('a', 'eth0', parseIpv4('250.3.4.40'))).address), '250.3.4.40');
      await assert.rejects(
        store.allocate('b', 'eth0', parseIpv4('250.3.4.40')),
        (e: unknown) => e instanceof IpamError && e.kind === 'taken',
      );
      await assert.rejects(
        store.allocate('c', 'eth0', parseIpv4('250.9.9.9')),
        (e: unknown) => e instanceof IpamError && e.kind === 'outside' && /250\.3\.4\.0\/24/.test(e.message),
      );
      assert.equal((await store.list()).length, 1);
    });

    it('records the pod a lease is for, and keeps the first record on a repeated allocation', async () => {
      const store = await make();
      const pod = { namespace: 'shop', name: 'web-0', uid: '8c1f-22' };
      const a = await store.allocate('cni:n:a', 'eth0', undefined, { pod });
      assert.deepEqual(a.pod, pod);
      const again = await store.allocate('cni:n:a', 'eth0', undefined, { pod: { namespace: 'other', name: 'x' } });
      assert.deepEqual(again.pod, pod);
      const plain = await store.allocate('docker:p:1', 'docker');
      assert.equal('pod' in plain, false, 'no pod field when none was given');
      const listed = await store.list();
      assert.deepEqual(
        listed.map((l) => l.pod),
        [pod, undefined],
      );
    });

    it('gc removes what the predicate rejects', async () => {
      const store = await make();
      await store.allocate('cni:n:a', 'eth0');
      await store.allocate('cni:n:b', 'eth0');
      await store.allocate('docker:x', 'eth0');
      const removed = await store.gc((l) => !l.owner.startsWith('cni:n:') || l.owner === 'cni:n:a');
      assert.deepEqual(
        removed.map((l) => l.owner),
        ['cni:n:b'],
      );
      assert.deepEqual((await store.list()).map((l) => l.owner).sort(), ['cni:n:a', 'docker:x']);
      assert.deepEqual(await store.gc(() => true), []);
    });
  });
}

describe('FileLeaseStore on disk', () => {
  it('persists across instances, in a readable file', async () => {
    const dir = await tempDir();
    const first = new FileLeaseStore(leaseFilePath(dir, 'fan-250'), pool, () => new Date('2025-01-02T03:04:05Z'));
    await first.allocate('cni:n:a', 'eth0');
    const second = new FileLeaseStore(leaseFilePath(dir, 'fan-250'), pool);
    assert.equal(formatIpv4((await second.allocate('cni:n:b', 'eth0')).address), '250.3.4.3');
    const doc = JSON.parse(await readFile(leaseFilePath(dir, 'fan-250'), 'utf8')) as {
      slice: string;
      last: string;
      leases: { address: string; since: string }[];
    };
    assert.equal(doc.slice, '250.3.4.0/24');
    assert.equal(doc.last, '250.3.4.3');
    assert.deepEqual(
      doc.leases.map((l) => l.address),
      ['250.3.4.2', '250.3.4.3'],
    );
    assert.equal(doc.leases[0]?.since, '2025-01-02T03:04:05.000Z');
    assert.deepEqual(await leaseBridges(dir), ['fan-250']);
  });

  it('writes the pod next to the lease and reads tables written before leases had one', async () => {
    const dir = await tempDir();
    const path = leaseFilePath(dir, 'fan-250');
    // A version-1 table as fan wrote it before pods were recorded.
    await mkdir(dirname(path), { recursive: true });
    await writeFile(
      path,
      JSON.stringify({
        version: 1,
        last: '250.3.4.2',
        leases: [{ address: '250.3.4.2', owner: 'cni:n:old', ifname: 'eth0', since: 'x' }],
      }),
    );
    const store = new FileLeaseStore(path, pool);
    await store.allocate('cni:n:new', 'eth0', undefined, { pod: { namespace: 'kube-system', name: 'dns-1' } });
    const doc = JSON.parse(await readFile(path, 'utf8')) as { leases: { owner: string; pod?: unknown }[] };
    assert.deepEqual(
      doc.leases.map((l) => [l.owner, l.pod]),
      [
        ['cni:n:old', undefined],
        ['cni:n:new', { namespace: 'kube-system', name: 'dns-1' }],
      ],
    );
    assert.deepEqual(
      (await store.list()).map((l) => l.pod?.name),
      [undefined, 'dns-1'],
    );
    // A pod record without a name is corrupt, not silently dropped.
    await writeFile(
      path,
      JSON.stringify({
        version: 1,
        leases: [{ address: '250.3.4.2', owner: 'o', ifname: 'eth0', since: 'x', pod: { namespace: 'a' } }],
      }),
    );
    await assert.rejects(store.list(), /is corrupt/);
  });

  it('a store without a pool (fan down) releases but refuses to allocate', async () => {
    const dir = await tempDir();
    await new FileLeaseStore(leaseFilePath(dir, 'fan-250'), pool).allocate('a', 'eth0');
    const down = openLeaseStoreByBridge(dir, 'fan-250');
    await assert.rejects(down.allocate('b', 'eth0'), /its fan is not up/);
    assert.equal(formatIpv4((await down.release('a', 'eth0'))?.address ?? 0), '250.3.4.2');
    assert.equal(await openLeaseStoreByBridge(dir, 'fan-9').release('a', 'eth0'), undefined);
    assert.deepEqual(await leaseBridges(join(dir, 'nothing')), []);
  });

  it('names a corrupt file', async () => {
    const dir = await tempDir();
    const path = leaseFilePath(dir, 'fan-250');
    await new FileLeaseStore(path, pool).allocate('a', 'eth0');
    await writeFile(path, '{"version":1,"leases":[{"address":"x"}]}');
    await assert.rejects(new FileLeaseStore(path, pool).list(), new RegExp(`state file ${path} is corrupt`));
  });
});

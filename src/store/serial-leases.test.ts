import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseIpv4 } from '../core/address/ipv4.js';
import { IpamError } from '../core/ipam/allocator.js';
import { makePool } from '../core/ipam/pool.js';
import { cidrOf } from '../testing/builders.js';
import { FileLeaseStore, leaseFilePath } from './lease-file.js';
import { SerialLeaseQueues } from './serial-leases.js';

const pool = makePool({ label: 'fan 250.0.0.0/8 (bridge fan-250)', slice: cidrOf('250.3.4.0/24'), hostReserve: 1 });
const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe("SerialLeaseQueues (the agent's lease stores)", () => {
  it(`batches concurrent allocations into few lock cycles, with distinct addresses and per-request \
errors`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fanag-serial-'));
    dirs.push(dir);
    const file = new FileLeaseStore(leaseFilePath(dir, 'fan-250'), pool);
    let cycles = 0;
    const batch = file.allocateBatch.bind(file);
    file.allocateBatch = (requests) => (cycles++, batch(requests));
    const queues = new SerialLeaseQueues();
    const store = queues.wrap(file);
    await store.allocate('cni:n:static', 'eth0', parseIpv4('250.3.4.77'));
    cycles = 0;
    const outcomes = await Promise.allSettled([
      ...Array.from({ length: 60 }, (_, i) => store.allocate(`cni:n:c${i}`, 'eth0')),
      store.allocate('cni:n:other', 'eth0', parseIpv4('250.3.4.77')),
    ]);
    const leases = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    assert.equal(leases.length, 60);
    assert.equal(new Set(leases.map((l) => l.address)).size, 60, 'distinct');
    assert.ok(!leases.some((l) => l.address === parseIpv4('250.3.4.77')), 'the static address stays with its holder');
    const refused = outcomes[60];
    assert.ok(refused?.status === 'rejected' && refused.reason instanceof IpamError && refused.reason.kind === 'taken');
    assert.ok(cycles < 10, `60 concurrent allocations took ${cycles} lock cycles`);
    // Another store object of the same file shares the queue, and the file has every lease.
    assert.equal((await queues.wrap(new FileLeaseStore(file.path, pool)).list()).length, 61);
    assert.ok(await store.release('cni:n:c3', 'eth0'));
    assert.equal((await file.list()).length, 60);
  });
});

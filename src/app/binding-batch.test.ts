import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseIpv4 } from '../core/address/ipv4.js';
import type { CommandRunner } from '../ports/runner.js';
import { applyBindingOps, batchedBindings } from './binding-batch.js';

const dir = await mkdtemp(join(tmpdir(), 'fan-bindings-'));
after(() => rm(dir, { recursive: true, force: true }));

describe('batched port bindings', () => {
  it('applies binds and unbinds in order and says what changed', () => {
    const r = applyBindingOps(
      [
        { port: 'a', address: '250.0.0.2' },
        { port: 'b', address: '250.0.0.3' },
      ],
      [
        { kind: 'unbind', port: 'b' },
        { kind: 'bind', port: 'b', address: '250.0.0.4' },
        { kind: 'bind', port: 'c', address: '250.0.0.5' },
        { kind: 'unbind', port: 'c' },
      ],
    );
    assert.deepEqual(r.list, [
      { port: 'a', address: '250.0.0.2' },
      { port: 'b', address: '250.0.0.4' },
    ]);
    assert.deepEqual(r.removed, [{ port: 'b', address: '250.0.0.3' }]);
    assert.deepEqual(r.added, [{ port: 'b', address: '250.0.0.4' }]);
    assert.equal(r.changed, true);
    assert.equal(applyBindingOps([{ port: 'a', address: '1.2.3.4' }], [{ kind: 'unbind', port: 'z' }]).changed, false);
  });

  it('serves 100 concurrent binds, then 50 unbinds, ending with what one call after the other leaves', async () => {
    const calls: string[] = [];
    const runner: CommandRunner = {
      run: async (argv) => (calls.push(argv.join(' ')), { stdout: '', stderr: '', exitCode: 0 }),
    };
    const b = batchedBindings({ runner, stateDir: dir });
    await Promise.all(Array.from({ length: 100 }, (_, i) => b.bindPort(`p${i}`, parseIpv4(`250.0.1.${i + 2}`))));
    await Promise.all(Array.from({ length: 50 }, (_, i) => b.unbindPort(`p${i * 2}`)));
    const file = JSON.parse(await readFile(join(dir, 'policy', 'bindings.json'), 'utf8')) as {
      bindings: { port: string }[];
    };
    assert.deepEqual(
      file.bindings.map((x) => x.port),
      Array.from({ length: 50 }, (_, i) => `p${i * 2 + 1}`),
    );
    assert.deepEqual(calls, [], 'no policy applied: nft is never run');
  });
});

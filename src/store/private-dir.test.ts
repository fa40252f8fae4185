import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { ConfigError, StateError } from '../core/errors.js';
import { makePool } from '../core/ipam/pool.js';
import { cidrOf } from '../testing/builders.js';
import { FanStateStore } from './fan-state.js';
import { readJson, writeJsonAtomic } from './json-file.js';
import { FileLeaseStore, ipamDir, leaseBridges, leaseFilePath } from './lease-file.js';
import { withLock } from './lock.js';
import { ensurePrivateDir } from './private-dir.js';
import { z } from 'zod';

const base = await mkdtemp(join(tmpdir(), 'fanhd-perm-'));
after(() => rm(base, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(base, `case${++n}`);
const modeOf = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;
const pool = makePool({ label: 'fan 250.0.0.0/8 (bridge fan-250)', slice: cidrOf('250.3.4.0/24'), hostReserve: 1 });

for (const umask of [0o000, 0o022, 0o277]) {
  describe(`state files under umask ${umask.toString(8).padStart(3, '0')}`, () => {
    let saved = 0;
    beforeEach(() => {
      saved = process.umask(umask);
    });
    afterEach(() => {
      process.umask(saved);
    });

    it('the state and IPAM directories are 0700 and the lease file 0600', async () => {
      const stateDir = join(fresh(), 'run', 'fan');
      await new FileLeaseStore(leaseFilePath(stateDir, 'fan-250'), pool).allocate('cni:n:a', 'eth0');
      assert.equal(await modeOf(stateDir), 0o700);
      assert.equal(await modeOf(join(stateDir, '..')), 0o700, 'missing parents fan created are private too');
      assert.equal(await modeOf(ipamDir(stateDir)), 0o700);
      assert.equal(await modeOf(leaseFilePath(stateDir, 'fan-250')), 0o600);
      assert.deepEqual(await readdir(ipamDir(stateDir)), ['fan-250.json'], 'no lock or temp file left');
    });

    it('the fans file is 0600; the lock directory 0700 with a 0600 pid file', async () => {
      const stateDir = fresh();
      await ensurePrivateDir(stateDir);
      assert.equal(await modeOf(stateDir), 0o700);
      const store = new FanStateStore(stateDir);
      await withLock(store.lockPath, async () => {
        assert.equal(await modeOf(store.lockPath), 0o700);
        assert.equal(await modeOf(join(store.lockPath, 'pid')), 0o600);
        await store.write([{ words: ['-o', '250.0.0.0/8', '-u', 'eth0/16'], source: 'cli' }]);
      });
      assert.equal(await modeOf(join(stateDir, 'fans.json')), 0o600);
      assert.deepEqual(await readdir(stateDir), ['fans.json']);
    });

    it('a directory that existed keeps its mode', async () => {
      const dir = fresh();
      await mkdir(dir);
      await chmod(dir, 0o755); // whatever the umask of this test
      const before = await modeOf(dir);
      await writeJsonAtomic(join(dir, 'x.json'), { a: 1 });
      assert.equal(await modeOf(dir), before);
      assert.equal(await modeOf(join(dir, 'x.json')), 0o600);
    });
  });
}

describe('a state directory that names a file', () => {
  it('every store operation fails with one clear ConfigError naming the file and FAN_STATE_DIR', async () => {
    const file = fresh();
    await writeFile(file, 'not a directory\n');
    const named = (e: unknown): boolean =>
      e instanceof ConfigError &&
      e.message.includes(`${file} is a file, not a directory`) &&
      /FAN_STATE_DIR/.test(e.hint ?? '');
    await assert.rejects(ensurePrivateDir(file), named);
    await assert.rejects(ensurePrivateDir(join(file, 'ipam')), named);
    await assert.rejects(new FanStateStore(file).read(), named);
    await assert.rejects(new FanStateStore(file).write([]), named);
    await assert.rejects(leaseBridges(file), named);
    await assert.rejects(new FileLeaseStore(leaseFilePath(file, 'fan-250'), pool).allocate('a', 'eth0'), named);
    await assert.rejects(new FileLeaseStore(leaseFilePath(file, 'fan-250'), pool).list(), named);
  });

  it('a state file that is a directory, or is not JSON, is named with the fix', async () => {
    const dir = fresh();
    await mkdir(join(dir, 'fans.json'), { recursive: true });
    await assert.rejects(
      new FanStateStore(dir).read(),
      (e: unknown) =>
        e instanceof StateError && /fans\.json: it is a directory/.test(e.message) && /remove/.test(e.hint ?? ''),
    );
    const other = fresh();
    await mkdir(other);
    await writeFile(join(other, 'x.json'), '{"half":');
    await assert.rejects(
      readJson(join(other, 'x.json'), z.object({}), {}),
      /state file .*x\.json is corrupt: not JSON/,
    );
  });
});

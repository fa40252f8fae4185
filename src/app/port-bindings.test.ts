import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseIpv4 } from '../core/address/ipv4.js';
import type { CommandRunner, RunOptions, RunResult } from '../ports/runner.js';
import { NftPortBinder, applyBindingOps } from './port-bindings.js';

class NftRecorder implements CommandRunner {
  readonly scripts: string[] = [];
  fail = false;
  /** Called at every nft run (to look at the lock and the record at that moment). */
  onRun: () => void = () => {};
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult> {
    assert.deepEqual(argv, ['nft', '-f', '-']);
    this.onRun();
    this.scripts.push(options?.input ?? '');
    return Promise.resolve({
      stdout: '',
      stderr: this.fail ? 'No such file or directory' : '',
      exitCode: this.fail ? 1 : 0,
    });
  }
}

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const stateDir = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'fan-bind-'));
  dirs.push(d);
  return d;
};
const binding = (n: number) => ({
  port: `fan${n}`,
  mac: `0a:58:fa:00:00:${n.toString(16).padStart(2, '0')}`,
  addresses: [parseIpv4(`250.0.0.${n}`)],
});

describe('NftPortBinder', () => {
  it('does the calls that arrive together in one cycle: one nft run, one record', async () => {
    const runner = new NftRecorder();
    const binder = new NftPortBinder(runner, await stateDir());
    await Promise.all([1, 2, 3, 4, 5].map((n) => binder.bind(binding(n))));
    // The first call starts a cycle on its own; the four that arrived meanwhile share the next.
    assert.ok(runner.scripts.length <= 2, `${runner.scripts.length} nft runs`);
    assert.deepEqual((await binder.list()).map((b) => b.port).sort(), ['fan1', 'fan2', 'fan3', 'fan4', 'fan5']);
    await Promise.all([binder.unbind('fan1'), binder.unbind('fan2'), binder.bind(binding(6))]);
    assert.deepEqual((await binder.list()).map((b) => b.port).sort(), ['fan3', 'fan4', 'fan5', 'fan6']);
    assert.match(runner.scripts.join(''), /delete element bridge fan-bind ports \{ "?fan1"?/);
  });

  it('runs nft without holding the lock; an unbind deletes the elements before it cuts the record', async () => {
    const runner = new NftRecorder();
    const dir = await stateDir();
    const binder = new NftPortBinder(runner, dir);
    const seen: { locked: boolean }[] = [];
    runner.onRun = () => seen.push({ locked: existsSync(join(dir, 'bindings.lock')) });
    await binder.bind(binding(1));
    await binder.bind(binding(2));
    await binder.unbind('fan1');
    assert.deepEqual(
      seen.map((s) => s.locked),
      [false, false, false],
      'no nft run holds the bindings lock',
    );
    assert.match(runner.scripts[2] ?? '', /delete element bridge fan-bind ports \{ "?fan1"?/);
    assert.doesNotMatch(runner.scripts[2] ?? '', /fan2/);
    assert.deepEqual(
      (await binder.list()).map((b) => b.port),
      ['fan2'],
    );
  });

  it('changes nothing for a repeated bind or an unbind of an unknown port', async () => {
    const runner = new NftRecorder();
    const binder = new NftPortBinder(runner, await stateDir());
    await binder.bind(binding(1));
    const runs = runner.scripts.length;
    await binder.bind(binding(1));
    await binder.unbind('fan9');
    assert.equal(runner.scripts.length, runs);
  });

  it('fails every call of a cycle whose nft change failed, keeping the bindings recorded', async () => {
    const runner = new NftRecorder();
    runner.fail = true;
    const binder = new NftPortBinder(runner, await stateDir());
    const results = await Promise.allSettled([binder.bind(binding(1)), binder.bind(binding(2))]);
    assert.ok(results.every((r) => r.status === 'rejected'));
    const reason = (results[0] as PromiseRejectedResult).reason as { message: string; hint?: string };
    assert.match(reason.message, /cannot bind the port in nftables table bridge fan-bind/);
    assert.match(reason.hint ?? '', /run fanctl up again/);
    // Recorded before the table changed: `up` rebuilds the table from the record.
    assert.equal((await binder.list()).length, 2);
  });

  it('refuses a bad binding before it joins a cycle', async () => {
    const binder = new NftPortBinder(new NftRecorder(), await stateDir());
    assert.throws(() => binder.bind({ ...binding(1), mac: 'ff:ff' }), /cannot bind port "fan1"/);
  });

  it('applies ops in order: a bind replaces what it clashes with, an unbind drops its port', () => {
    const list = applyBindingOps(
      [binding(1), binding(2)],
      [{ bind: { ...binding(3), addresses: binding(1).addresses } }, { unbind: 'fan2' }],
    );
    assert.deepEqual(
      list.map((b) => b.port),
      ['fan3'],
    );
  });
});

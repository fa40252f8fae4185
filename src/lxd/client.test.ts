import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CommandRunner, RunOptions, RunResult } from '../ports/runner.js';
import { LxcProfiles } from './client.js';

class FakeRunner implements CommandRunner {
  readonly calls: { argv: string[]; input?: string }[] = [];
  constructor(private readonly stdout: string = '[]') {}
  run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    this.calls.push({ argv: [...argv], ...(options.input === undefined ? {} : { input: options.input }) });
    return Promise.resolve({ stdout: this.stdout, stderr: '', exitCode: 0 });
  }
}

describe('LxcProfiles (the lxc client)', () => {
  it('runs lxc profile create/edit/delete/remove, YAML on stdin, --project on every call', async () => {
    const runner = new FakeRunner();
    const p = new LxcProfiles(runner, { project: 'web' });
    await p.create('fan-250');
    await p.edit('fan-250', 'name: fan-250\n');
    await p.removeFrom('c1', 'fan-250');
    await p.delete('fan-250');
    assert.deepEqual(runner.calls, [
      { argv: ['lxc', 'profile', 'create', 'fan-250', '--project', 'web'] },
      { argv: ['lxc', 'profile', 'edit', 'fan-250', '--project', 'web'], input: 'name: fan-250\n' },
      { argv: ['lxc', 'profile', 'remove', 'c1', 'fan-250', '--project', 'web'] },
      { argv: ['lxc', 'profile', 'delete', 'fan-250', '--project', 'web'] },
    ]);
  });

  it('reads lxc profile list --format json as LXD 5.0 prints it (null maps and lists included)', async () => {
    const runner = new FakeRunner(
      JSON.stringify([
        {
          config: {},
          description: 'Default LXD profile',
          devices: { root: { path: '/', pool: 'default', type: 'disk' } },
          name: 'default',
          used_by: ['/1.0/instances/c1'],
        },
        { config: null, description: '', devices: null, name: 'empty', used_by: null },
      ]),
    );
    const list = await new LxcProfiles(runner).list();
    assert.deepEqual(runner.calls[0]?.argv, ['lxc', 'profile', 'list', '--format', 'json']);
    assert.deepEqual(list, [
      {
        name: 'default',
        description: 'Default LXD profile',
        config: {},
        devices: { root: { path: '/', pool: 'default', type: 'disk' } },
        usedBy: ['/1.0/instances/c1'],
      },
      { name: 'empty', description: '', config: {}, devices: {}, usedBy: [] },
    ]);
  });
});

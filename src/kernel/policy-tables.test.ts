import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CommandRunner, RunOptions, RunResult } from '../ports/runner.js';
import { decodeTimes, loadNftScript } from './policy-tables.js';

class FakeRunner implements CommandRunner {
  readonly calls: { argv: readonly string[]; input?: string }[] = [];
  constructor(private readonly result: RunResult) {}
  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    this.calls.push({ argv, ...(options.input !== undefined ? { input: options.input } : {}) });
    return this.result;
  }
}

describe('policy tables', () => {
  it('reads nft CPU time from the shell builtin times', () => {
    assert.equal(decodeTimes('0m0.000000s 0m0.000000s\n0m0.010000s 0m0.020000s\n'), 30);
    assert.equal(decodeTimes('garbage'), undefined);
  });
  it("loads the whole script with one nft run and reports a refusal with nft's message", async () => {
    const ok = new FakeRunner({ exitCode: 0, stdout: '', stderr: '0m0.00s 0m0.00s\n0m0.01s 0m0.02s\n' });
    const t = await loadNftScript(ok, 'table ip fan-policy\n');
    assert.equal(t.cpuMs, 30);
    assert.equal(ok.calls.length, 1);
    assert.equal(ok.calls[0]?.input, 'table ip fan-policy\n');
    const bad = new FakeRunner({
      exitCode: 1,
      stdout: '',
      stderr: 'Error: syntax error\n0m0.00s 0m0.00s\n0m0.01s 0m0.00s\n',
    });
    await assert.rejects(
      loadNftScript(bad, 'x'),
      /nft refused the policy transaction \(exit 1\); nothing was changed:\n {2}Error: syntax error/,
    );
  });
});

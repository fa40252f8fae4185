import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ExecHelper, decodeResponses, encodeRequest } from './exec-helper.js';

const BUILT = fileURLToPath(new URL('../../../build/bin/fan-exec', import.meta.url));
const built = existsSync(BUILT);

describe('fan-exec frames', () => {
  it('encodes a request: size, id, timeout, argv, stdin', () => {
    const frame = encodeRequest(7, ['ip', '-batch', '-'], 'link show\n', 250);
    assert.equal(frame.readUInt32LE(0), frame.length - 4);
    assert.deepEqual([frame.readUInt32LE(4), frame.readUInt32LE(8), frame.readUInt32LE(12)], [7, 250, 3]);
    assert.equal(frame.subarray(16, 28).toString(), 'ip\0-batch\0-\0');
    assert.equal(frame.readUInt32LE(28), 10);
    assert.equal(frame.subarray(32).toString(), 'link show\n');
  });

  const response = (id: number, status: number, value: number, out: string, err: string): Buffer => {
    const o = Buffer.from(out);
    const e = Buffer.from(err);
    const head = Buffer.alloc(20);
    head.writeUInt32LE(16 + o.length + 4 + e.length, 0);
    head.writeUInt32LE(id, 4);
    head.writeUInt32LE(status, 8);
    head.writeInt32LE(value, 12);
    head.writeUInt32LE(o.length, 16);
    const el = Buffer.alloc(4);
    el.writeUInt32LE(e.length, 0);
    return Buffer.concat([head, o, el, e]);
  };

  it('decodes whole responses and keeps a partial one for later', () => {
    const two = Buffer.concat([response(1, 0, 3, 'out', 'err'), response(2, 1, 9, '', '')]);
    const partial = response(3, 3, 2, 'x', '').subarray(0, 10);
    const { responses, rest } = decodeResponses(Buffer.concat([two, partial]));
    assert.deepEqual(
      responses.map((r) => [r.id, r.result.outcome, r.result.stdout.toString(), r.result.stderr.toString()]),
      [
        [1, { kind: 'exited', code: 3 }, 'out', 'err'],
        [2, { kind: 'signalled', signal: 'SIGKILL' }, '', ''],
      ],
    );
    assert.equal(rest.length, 10);
    const more = decodeResponses(Buffer.concat([rest, response(3, 3, 2, 'x', '').subarray(10)]));
    assert.deepEqual(more.responses[0]?.result.outcome, { kind: 'not-started', error: 'ENOENT' });
  });
});

describe('fan-exec, the program', { skip: built ? false : `${BUILT} is not built (clang missing)` }, () => {
  const helper = new ExecHelper(BUILT);

  it('runs a command with its stdin and returns its outputs and exit code', async () => {
    const r = await helper.run(['sh', '-c', 'cat; echo oops >&2; exit 3'], 'from stdin\n');
    assert.deepEqual(r.outcome, { kind: 'exited', code: 3 });
    assert.equal(r.stdout.toString(), 'from stdin\n');
    assert.equal(r.stderr.toString(), 'oops\n');
  });

  it('reports a missing program, a signal and a timeout', async () => {
    assert.deepEqual((await helper.run(['fan-no-such-tool'], '')).outcome, { kind: 'not-started', error: 'ENOENT' });
    assert.deepEqual((await helper.run(['sh', '-c', 'kill -TERM $$'], '')).outcome, {
      kind: 'signalled',
      signal: 'SIGTERM',
    });
    const started = Date.now();
    assert.deepEqual((await helper.run(['sleep', '10'], '', 100)).outcome, { kind: 'timed-out' });
    assert.ok(Date.now() - started < 5000);
  });

  it('runs requests side by side and answers each its own', async () => {
    const started = Date.now();
    const outs = await Promise.all(
      Array.from({ length: 40 }, (_, i) => helper.run(['sh', '-c', `sleep 0.2; echo ${i}`], '')),
    );
    assert.deepEqual(
      outs.map((o) => o.stdout.toString().trim()),
      Array.from({ length: 40 }, (_, i) => String(i)),
    );
    assert.ok(Date.now() - started < 4000, 'forty 0.2 s commands did not run one after another');
  });

  it('carries large inputs and outputs', async () => {
    const input = 'x'.repeat(3 << 20);
    const r = await helper.run(['wc', '-c'], input);
    assert.equal(r.stdout.toString().trim(), String(3 << 20));
    const big = await helper.run(['head', '-c', String(2 << 20), '/dev/zero'], '');
    assert.equal(big.stdout.length, 2 << 20);
  });

  it('a helper that dies fails what it held, and the next request starts a new one', async () => {
    const pid = Number((await helper.run(['sh', '-c', 'echo $PPID'], '')).stdout.toString());
    const held = helper.run(['sleep', '2'], ''); // left to finish on its own
    process.kill(pid, 'SIGKILL');
    assert.deepEqual((await held).outcome, { kind: 'helper-died' });
    const again = await helper.run(['sh', '-c', 'echo $PPID'], '');
    assert.notEqual(Number(again.stdout.toString()), pid);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { progressBar, progressLine, stepProgress } from './progress.js';

function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; written: string[] } {
  const written: string[] = [];
  const stream = {
    isTTY,
    columns: 40,
    write: (chunk: string) => {
      written.push(chunk);
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { stream, written };
}

describe('progress output', () => {
  it('overwrites one line per step on a terminal, cut to its width, and clears it when done', () => {
    const { stream, written } = fakeStream(true);
    const line = progressLine('lab up', false, stream);
    line.step('host 1: fanctl up');
    line.step(`host 2: ${'x'.repeat(100)}`);
    line.done();
    assert.equal(written[0], '\r\x1b[Klab up: host 1: fanctl up');
    assert.equal(written[1]?.length, '\r\x1b[K'.length + 39);
    assert.equal(written[2], '\r\x1b[K');
  });

  it('is silent when not a terminal, or with --json', () => {
    for (const [tty, quiet] of [
      [false, false],
      [true, true],
    ] as const) {
      const { stream, written } = fakeStream(tty);
      const line = progressLine('x', quiet, stream);
      line.step('a');
      line.done();
      progressBar('x', stream)(1, 1);
      assert.equal(written.length, tty ? 2 : 0);
    }
  });
});

describe('stepProgress', () => {
  it('writes a line per step with the elapsed seconds, cut to the terminal width', () => {
    const lines: string[] = [];
    const step = stepProgress('bench', (t) => lines.push(t), 20);
    step('short');
    step('a step whose description is longer than the terminal');
    assert.equal(lines[0], 'bench [   0s] short\n');
    assert.equal(lines[1], 'bench [   0s] a ste…\n');
    const log: string[] = [];
    stepProgress('bench', (t) => log.push(t), undefined)('x'.repeat(300));
    assert.equal(log[0]?.length, 'bench [   0s] '.length + 300 + 1, 'not cut without a terminal');
  });
});

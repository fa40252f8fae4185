import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stepProgress } from './progress.js';

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

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../core/errors.js';
import { combine, defineCheck, fail, ok, warn } from './check.js';
import type { DoctorContext } from './context.js';
import { reupCommand } from './context.js';
import { renderDoctor } from './render.js';
import { runChecks, selectChecks } from './run.js';

const ctx = {} as DoctorContext; // the fake checks below read nothing from it

describe('runChecks', () => {
  const good = defineCheck({ id: 'good', title: 'good', gather: async () => 1, judge: () => ok('fine') });
  const bad = defineCheck({ id: 'bad', title: 'bad', gather: async () => 0, judge: () => fail('broken', 'mend it') });
  const crashing = defineCheck({
    id: 'crash',
    title: 'crash',
    gather: async (): Promise<number> => {
      throw new Error('no bpftool');
    },
    judge: () => ok('never'),
  });

  it('counts verdicts and names the failed checks; a check that cannot gather fails with the reason', async () => {
    const report = await runChecks([good, bad, crashing], ctx);
    assert.deepEqual(report.failed, ['bad', 'crash']);
    assert.deepEqual(report.counts, { ok: 1, warn: 0, fail: 2, skip: 0 });
    assert.match(report.checks[2]?.seen ?? '', /could not inspect: no bpftool/);
    assert.equal(report.checks[0]?.observation, 1);
  });

  it('renders a table with verdict, seen and fix, and a summary', async () => {
    const text = renderDoctor(await runChecks([good, bad], ctx));
    assert.match(text, /FAIL/);
    assert.match(text, /mend it/);
    assert.match(text, /1 check\(s\) failed: bad/);
  });

  it('selects checks by id and refuses unknown ones', () => {
    assert.deepEqual(
      selectChecks([good, bad], ['bad']).map((c) => c.id),
      ['bad'],
    );
    assert.throws(() => selectChecks([good, bad], ['nope']), ConfigError);
  });
});

describe('combine', () => {
  it('keeps the worst verdict and only its texts and fixes', () => {
    const f = combine([ok('a'), warn('b', 'fix b'), fail('c', 'fix c'), fail('d', 'fix c')], ok('none'));
    assert.deepEqual(f, { verdict: 'fail', seen: 'c; d', fix: 'fix c' });
    assert.deepEqual(combine([], ok('none')), ok('none'));
  });
});

describe('reupCommand', () => {
  it('gives the up command for the recorded fans', () => {
    assert.equal(
      reupCommand([{ words: ['-o', '250.0.0.0/8', '-u', '172.16.0.0/16'], source: 'cli' }]),
      'fanctl up -o 250.0.0.0/8 -u 172.16.0.0/16',
    );
    assert.equal(reupCommand([{ words: ['x'], source: '/etc/network/fan' }]), 'fanctl up -a --config /etc/network/fan');
  });
});

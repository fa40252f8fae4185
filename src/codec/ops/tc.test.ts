import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeAction } from './action.js';
import { renderTcDetach } from './tc.js';

const OBJ = '/usr/lib/fan/fan.bpf.o';
/** The receiving program's detach from eth0 (shared clsact), rendered as text: apply, and its undo. */
const detach = (extra: { keepQdisc?: true } = {}): { apply: string; undo: string[] }[] =>
  renderTcDetach(
    {
      kind: 'tc-detach',
      dev: 'eth0',
      programs: [{ direction: 'ingress', section: 'tc/fp_gw_rx' }],
      qdisc: 'shared',
      ...extra,
    },
    OBJ,
  ).map((c) => ({ apply: describeAction(c.apply), undo: c.undo.map(describeAction) }));

describe('tc detach', () => {
  it("whole device: every filter, then the device's clsact (released when shared); a rollback re-attaches", () => {
    const out = detach();
    assert.equal(out.length, 2);
    assert.match(out[0]?.apply ?? '', /^tc filter del dev eth0 ingress pref 250/);
    assert.match(out[1]?.apply ?? '', /clsact/);
    assert.match(out[0]?.undo.join('\n') ?? '', /clsact[\s\S]*tc filter replace dev eth0 ingress .*sec tc\/fp_gw_rx/);
  });

  it('keepQdisc: only the filters go, and a rollback puts back only the filters', () => {
    const out = detach({ keepQdisc: true });
    assert.deepEqual(
      out.map((c) => c.apply),
      ['tc filter del dev eth0 ingress pref 250'],
    );
    assert.equal(out[0]?.undo.length, 1);
    assert.match(
      out[0]?.undo[0] ?? '',
      /^tc filter replace dev eth0 ingress pref 250 handle 1 bpf da obj .* sec tc\/fp_gw_rx$/,
    );
  });
});

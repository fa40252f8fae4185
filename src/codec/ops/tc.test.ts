import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeAction } from './action.js';
import { renderTcAttach, renderTcDetach } from './tc.js';

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

describe("a fast path's bridge: its programs in the tc shared block", () => {
  const text = (changes: ReturnType<typeof renderTcAttach>): { apply: string; undo: string[] }[] =>
    changes.map((c) => ({ apply: describeAction(c.apply), undo: c.undo.map(describeAction) }));
  const programs = [{ direction: 'ingress', section: 'tc/fp_gw_tx' }] as const;
  it("attach: the bridge's clsact is bound to the block, and the filter goes into the block", () => {
    const out = text(renderTcAttach({ kind: 'tc-attach', dev: 'fan-250', programs, qdisc: 'own', block: 77 }, OBJ));
    assert.deepEqual(
      out.map((c) => c.apply),
      [
        'tc qdisc replace dev fan-250 ingress_block 77 clsact',
        `tc filter replace block 77 pref 250 handle 1 bpf da obj ${OBJ} sec tc/fp_gw_tx`,
      ],
    );
    assert.deepEqual(out[1]?.undo, ['tc filter del block 77 pref 250']);
  });
  it('detach: the filter leaves the block (and so every port) before the qdisc goes; a rollback binds again', () => {
    const out = text(renderTcDetach({ kind: 'tc-detach', dev: 'fan-250', programs, qdisc: 'own', block: 77 }, OBJ));
    assert.deepEqual(
      out.map((c) => c.apply),
      ['tc filter del block 77 pref 250', 'tc qdisc del dev fan-250 clsact'],
    );
    assert.match(out[0]?.undo.join('\n') ?? '', /ingress_block 77 clsact\ntc filter replace block 77 /);
  });
  it("a shared qdisc (a host's own device) is never bound to a block", () => {
    const op = { kind: 'tc-attach', dev: 'eth0', programs, qdisc: 'shared', block: 77 } as const;
    assert.ok(!text(renderTcAttach(op, OBJ)).some((c) => c.apply.includes('block')));
  });
});

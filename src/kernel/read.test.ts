import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TcProgramState } from '../core/model/host-state.js';
import { iface } from '../testing/builders.js';
import { attachedOnce } from './read.js';

describe('reading back a shared block', () => {
  const tx = (dev: string, block?: number): TcProgramState => ({
    dev,
    direction: 'ingress',
    progId: 9,
    name: 'fan_fp_tx',
    section: 'tc/fp_tx',
    ...(block !== undefined ? { block } : {}),
  });
  const links = [iface('fan-250', [], { kind: 'bridge' }), iface('fan0cafe', [], { kind: 'veth' })];

  it("the program is fan's state once, on the bridge, not once per container port", () => {
    assert.deepEqual(attachedOnce([tx('fan-250', 7), tx('fan0cafe', 7)], links), [tx('fan-250', 7)]);
  });
  it('programs outside any block are all kept, on whatever device', () => {
    const rx = { ...tx('eth0'), section: 'tc/fp_rx' };
    assert.deepEqual(attachedOnce([rx, tx('fan0cafe')], links), [rx, tx('fan0cafe')]);
  });
  it("a port left in a block after its bridge went shows nothing: the block's program there is inert", () => {
    assert.deepEqual(attachedOnce([tx('fan0cafe', 7)], links.slice(1)), []);
  });
});

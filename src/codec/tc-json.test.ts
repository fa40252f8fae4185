import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeIngressBlocks } from './tc-json.js';

describe('tc -j qdisc show', () => {
  it('maps each device whose clsact ingress is bound to a block, and nothing else', () => {
    const json = JSON.stringify([
      { kind: 'noqueue', handle: '0:', dev: 'fan-250', root: true },
      { kind: 'clsact', handle: 'ffff:', dev: 'fan-250', parent: 'ffff:fff1', ingress_block: 4194306816 },
      { kind: 'clsact', handle: 'ffff:', dev: 'c1', parent: 'ffff:fff1', ingress_block: 4194306816 },
      { kind: 'clsact', handle: 'ffff:', dev: 'eth0', parent: 'ffff:fff1' },
    ]);
    assert.deepEqual(
      [...decodeIngressBlocks(json)],
      [
        ['fan-250', 4194306816],
        ['c1', 4194306816],
      ],
    );
    assert.deepEqual([...decodeIngressBlocks('')], []);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CommandRunner, RunOptions, RunResult } from '../ports/runner.js';
import { fastPathPeer, fastPathSwitches, peerLine, switchLine, withFastPathOff } from './fastpath.js';

/** Answers bpftool and nft like a host with one fast-path program (ctl map 12) and one vxlan program. */
class Host implements CommandRunner {
  readonly calls: { argv: readonly string[]; input?: string }[] = [];
  policy = false;
  /** Batches that fail, from the next one on (a map that is gone). */
  failBatches = 0;
  async run(argv: readonly string[], options?: RunOptions): Promise<RunResult> {
    this.calls.push({ argv, ...(options?.input !== undefined ? { input: options.input } : {}) });
    const out = (stdout: string, exitCode = 0): RunResult => ({ exitCode, stdout, stderr: '' });
    const cmd = argv.join(' ');
    if (cmd === 'bpftool -j net show')
      return out(
        JSON.stringify([
          { tc: [{ devname: 'fan-250', kind: 'clsact/ingress', name: 'fan.bpf.o:[tc/fp_tx]', id: 5 }] },
          { tc: [{ devname: 'fan-vxlan', kind: 'clsact/egress', name: 'fan.bpf.o:[tc/egress]', id: 6 }] },
        ]),
      );
    if (cmd === 'bpftool -j prog show')
      return out(
        JSON.stringify([
          { id: 5, map_ids: [10, 11, 12] },
          { id: 6, map_ids: [13] },
        ]),
      );
    if (cmd === 'bpftool -j map show')
      return out(
        JSON.stringify([
          { id: 12, name: 'fan_fp_ctl' },
          { id: 11, name: 'fan_fp_peers' },
          { id: 13, name: 'fan_fp_ctl' },
          { id: 10, name: 'fan_overlays' },
        ]),
      );
    if (cmd === 'nft list table ip fan-policy') return out('', this.policy ? 0 : 1);
    if (cmd === 'bpftool batch file -' && this.failBatches > 0) {
      this.failBatches--;
      return out('', 255);
    }
    if (cmd === 'ip -j link show dev fan0cafe') return out(JSON.stringify([{ ifindex: 0x105 }]));
    return out('');
  }
}

const writes = (h: Host): string[] => h.calls.filter((c) => c.argv[1] === 'batch').map((c) => c.input ?? '');

describe('fast path switch', () => {
  it('finds the switch of fast-path programs only', async () => {
    assert.deepEqual(await fastPathSwitches(new Host()), [12]);
  });
  it('a policy change runs with the fast path off, and it comes back on only without a policy', async () => {
    const h = new Host();
    await withFastPathOff(h, async () => {
      h.policy = true;
    });
    assert.deepEqual(writes(h), [`${switchLine(12, false)}\n`, `${switchLine(12, false)}\n`]);
    const g = new Host();
    g.policy = true;
    await withFastPathOff(g, async () => {
      g.policy = false;
    });
    assert.deepEqual(writes(g), [`${switchLine(12, false)}\n`, `${switchLine(12, true)}\n`]);
  });
  it('switches back even when the change fails', async () => {
    const h = new Host();
    await assert.rejects(
      withFastPathOff(h, () => Promise.reject(new Error('nft refused'))),
      /nft refused/,
    );
    assert.deepEqual(writes(h).at(-1), `${switchLine(12, true)}\n`);
  });
  it('writes the mode as a little-endian __u32', () => {
    assert.equal(switchLine(3, true), 'map update id 3 key hex 00 00 00 00 value hex 01 00 00 00');
  });
});

describe('fast path peer map', () => {
  it('keys by the address as a little-endian __u32, values ifindex then MAC then padding', () => {
    assert.equal(
      peerLine(9, 0xfa000c02, { ifindex: 0x105, mac: '86:11:61:0a:bd:47' }),
      'map update id 9 key hex 02 0c 00 fa value hex 05 01 00 00 86 11 61 0a bd 47 00 00',
    );
    assert.equal(peerLine(9, 0xfa000c02), 'map delete id 9 key hex 02 0c 00 fa');
  });
});

describe('fast path port', () => {
  const attach = async (block?: number): Promise<string[]> => {
    const h = new Host();
    const to = { hostIf: 'fan0cafe', mac: '86:11:61:0a:bd:47', ...(block !== undefined ? { block } : {}) };
    await fastPathPeer(h, 0xfa000c02, to);
    return h.calls.map((c) => [...c.argv, ...(c.input !== undefined ? [c.input.trim()] : [])].join(' '));
  };
  it("an attach binds the port to the bridge's block and enters the container in the transmitting program's map", async () => {
    const calls = await attach(0xfa000c00);
    assert.ok(calls.includes('tc qdisc add dev fan0cafe ingress_block 4194307072 clsact'), calls.join('\n'));
    assert.ok(
      calls.includes(`bpftool batch file - ${peerLine(11, 0xfa000c02, { ifindex: 0x105, mac: '86:11:61:0a:bd:47' })}`),
    );
  });
  it('without a block (a fan without a fast path) no tc process runs', async () => {
    assert.ok(!(await attach()).some((c) => c.startsWith('tc ')));
  });
  it('a detach removes the entry and touches no qdisc', async () => {
    const h = new Host();
    await fastPathPeer(h, 0xfa000c02);
    assert.deepEqual(writes(h), [`${peerLine(11, 0xfa000c02)}\n`]);
    assert.ok(!h.calls.some((c) => c.argv[0] === 'tc'));
  });
});

describe('fast path peer map ids kept per scope', () => {
  const port = { hostIf: 'fan0cafe', mac: '86:11:61:0a:bd:47' };
  const listings = (h: Host): number => h.calls.filter((c) => c.argv.join(' ') === 'bpftool -j map show').length;
  it('a second attach with the same scope writes without listing programs and maps again', async () => {
    const h = new Host();
    const scope = {};
    await fastPathPeer(h, 0xfa000c02, { ...port, scope });
    await fastPathPeer(h, 0xfa000c03, { ...port, scope });
    assert.equal(listings(h), 1);
    assert.equal(writes(h).length, 2);
    await fastPathPeer(h, 0xfa000c04, { ...port, scope: {} });
    assert.equal(listings(h), 2, 'another scope lists afresh');
  });
  it('a write that fails with kept ids (programs attached again) lists afresh and writes once more', async () => {
    const h = new Host();
    const scope = {};
    await fastPathPeer(h, 0xfa000c02, { ...port, scope });
    h.failBatches = 1;
    await fastPathPeer(h, 0xfa000c03, { ...port, scope });
    assert.equal(listings(h), 2);
    assert.equal(writes(h).length, 3);
    await fastPathPeer(h, 0xfa000c04, { ...port, scope });
    assert.equal(listings(h), 2, 'the fresh list is kept');
  });
  it('concurrent attaches of one scope share one listing', async () => {
    const h = new Host();
    const scope = {};
    await Promise.all([2, 3, 4, 5].map((n) => fastPathPeer(h, 0xfa000c00 + n, { ...port, scope })));
    assert.equal(listings(h), 1);
    assert.equal(writes(h).length, 4);
  });
  it('without a scope every call lists (one-shot processes)', async () => {
    const h = new Host();
    await fastPathPeer(h, 0xfa000c02, port);
    await fastPathPeer(h, 0xfa000c03, port);
    assert.equal(listings(h), 2);
  });
});

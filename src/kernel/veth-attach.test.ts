/** The veth attach's order (the host end goes up only once the port is bound) and its processes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import type { RunOptions, RunResult } from '../ports/runner.js';
import type { AttachedVethRequest } from '../ports/sandbox.js';
import { createAttachedVeth } from './veth-attach.js';

interface Call {
  readonly argv: readonly string[];
  readonly input: string;
}

/** Answers `address show dev X` with a link of ifindex 42, and the fast path's listings with one program. */
class Recorder {
  readonly calls: Call[] = [];
  run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const input = options.input ?? '';
    this.calls.push({ argv, input });
    const reply = (stdout: unknown): Promise<RunResult> =>
      Promise.resolve({ exitCode: 0, stderr: '', stdout: JSON.stringify(stdout) });
    const dev = /address show dev (\S+)/.exec(input)?.[1];
    if (dev !== undefined) return reply([{ ifname: dev, ifindex: 42, mtu: 1450, address: '0a:58:fa:00:0b:02' }]);
    if (argv.join(' ') === 'bpftool -j net show') return reply([{ tc: [{ name: 'fan.bpf.o:[tc/fp_tx]', id: 7 }] }]);
    if (argv.join(' ') === 'bpftool -j prog show') return reply([{ id: 7, map_ids: [3] }]);
    if (argv.join(' ') === 'bpftool -j map show') return reply([{ id: 3, name: 'fan_fp_peers' }]);
    return reply([]);
  }
  lines(): string[] {
    return this.calls.map((c) => `${c.argv.join(' ')} <<< ${c.input.trim().replace(/\n/g, ' | ')}`);
  }
}

const request = (bound: Promise<unknown>, extra: Partial<AttachedVethRequest> = {}): AttachedVethRequest => ({
  netns: '/var/run/netns/c1',
  ifname: 'eth0',
  hostIf: 'fan12345678',
  mtu: 1450,
  bridge: 'fan-250',
  alias: 'fan: cni net c1 eth0',
  address: { address: 0xfa000b02, prefix: 24 },
  gateway: 0xfa000b01,
  mac: '0a:58:fa:00:0b:02',
  bound,
  ...extra,
});

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve = (): void => undefined;
  let reject = (_: Error): void => undefined;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('createAttachedVeth', () => {
  it('creates the veth with its host end down while the port is bound, and brings it up after', async () => {
    const runner = new Recorder();
    const bound = deferred();
    const made = createAttachedVeth(runner, request(bound.promise));
    for (let i = 0; i < 5; i++) await tick();
    assert.equal(runner.calls.length, 1, 'only the create runs before the binding is in place');
    const create = runner.calls[0]?.input.split('\n')[0] ?? '';
    assert.match(create, /^link add fan12345678 group 250 mtu 1450 master fan-250 type veth peer name eth0 /);
    assert.doesNotMatch(create, /\bup\b/, 'the host end is created down');
    bound.resolve();
    const { host, container } = await made;
    assert.equal(host.name, 'fan12345678');
    assert.equal(container.name, 'eth0');
    const after = runner.lines().slice(1);
    assert.deepEqual(after, [
      'ip -json -details -batch - <<< link set dev fan12345678 up | address show dev fan12345678',
      'ip -n c1 -json -details -batch - <<< link set dev eth0 up | address add 250.0.11.2/24 dev eth0 | ' +
        'route add default via 250.0.11.1 dev eth0 | address show dev eth0',
    ]);
  });

  it('a failed binding removes the veth and fails with its error; the container is never set up', async () => {
    const runner = new Recorder();
    const bound = deferred();
    const made = createAttachedVeth(runner, request(bound.promise));
    await tick();
    bound.reject(new Error('cannot bind the port'));
    await assert.rejects(made, /cannot bind the port/);
    assert.deepEqual(
      runner.calls.slice(1).map((c) => c.argv.join(' ')),
      ['ip link del dev fan12345678'],
    );
  });

  it('a namespace given as /proc/PID/ns/net is entered with nsenter', async () => {
    const runner = new Recorder();
    await createAttachedVeth(runner, request(Promise.resolve(), { netns: '/proc/4242/ns/net' }));
    assert.ok(
      runner.calls.some((c) => c.argv.join(' ') === 'nsenter --net=/proc/4242/ns/net ip -json -details -batch -'),
    );
  });

  it("on a fast-path fan, joins the block and writes the accelerator with the create's ifindex", async () => {
    const runner = new Recorder();
    await createAttachedVeth(runner, request(Promise.resolve(), { portBlock: 0xfa000b00 }));
    const argv = runner.calls.map((c) => c.argv.join(' '));
    assert.ok(argv.includes(`tc qdisc add dev fan12345678 ingress_block ${0xfa000b00} clsact`));
    assert.ok(!argv.some((a) => a.startsWith('ip -j link show')), 'no process asks for the ifindex');
    const write = runner.calls.find((c) => c.argv.join(' ') === 'bpftool batch file -')?.input ?? '';
    assert.match(write, /^map update id 3 key hex 02 0b 00 fa value hex 2a 00 00 00 0a 58 fa 00 0b 02 00 00$/m);
  });
});

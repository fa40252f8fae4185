import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { after, describe, it } from 'node:test';
import { ConfigError } from '../core/errors.js';
import { parsePolicy } from '../core/policy/parse.js';
import type { WatchedDocument } from '../core/policy/watch.js';
import type { PolicySource, PolicySourceEvents } from '../ports/policy-source.js';
import { readPolicyWatchFile } from '../store/policy-watch-state.js';
import type { CommandRunner } from '../ports/runner.js';
import type { HostReader } from '../ports/host.js';
import { publishPolicy, startPolicyWatch } from './policy-watch.js';

class FakeSource implements PolicySource {
  readonly description = 'fake key /fan/policy';
  events?: PolicySourceEvents;
  published: string[] = [];
  closed = false;
  watch(events: PolicySourceEvents) {
    this.events = events;
    return { close: async () => void (this.events = undefined) };
  }
  async publish(text: string) {
    this.published.push(text);
    return 42n;
  }
  async read(): Promise<WatchedDocument> {
    return { revision: 1n, text: undefined };
  }
  async close() {
    this.closed = true;
  }
}

const GOOD = (n: number): string => `default: isolate\ngroups:\n  web: { index: ${10 + n}-${19 + n} }\n`;
const BAD = 'default: sometimes\n';
const TIMING = { quietMs: 5, maxWaitMs: 20, retryMs: 10, maxRetryMs: 40 };

describe('policy watch driver', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function setup(fail?: () => Error | undefined) {
    const stateDir = await mkdtemp(`${tmpdir()}/fan-watch-`);
    dirs.push(stateDir);
    const applied: string[] = [];
    const logs: string[] = [];
    const source = new FakeSource();
    const watch = startPolicyWatch(
      {
        runner: {} as CommandRunner,
        host: {} as HostReader,
        paths: { stateDir } as never,
        log: (l) => logs.push(l),
      },
      source,
      {
        timing: TIMING,
        apply: async (text) => {
          const error = fail?.();
          if (error) throw error;
          const policy = parsePolicy(text, 'doc'); // a bad document is refused as applyPolicyText refuses it
          applied.push(text);
          return { hash: `h${policy.groups[0]?.kind === 'index' ? policy.groups[0].first : 0}` };
        },
      },
    );
    return { stateDir, applied, logs, source, watch };
  }

  it('applies the newest revision of a burst once, refuses a bad one and keeps the last good policy', async () => {
    const { stateDir, applied, logs, source, watch } = await setup();
    source.events?.connected();
    for (let r = 1; r <= 5; r++) source.events?.document({ revision: BigInt(r), text: GOOD(r) });
    await watch.idle();
    assert.deepEqual(applied, [GOOD(5)]);
    assert.equal(watch.state().good?.hash, 'h15');

    source.events?.document({ revision: 6n, text: BAD });
    await watch.idle();
    assert.deepEqual(applied, [GOOD(5)]);
    assert.equal(watch.state().refused?.revision, 6n);
    assert.match(logs.join('\n'), /revision 6 refused: .*default.*keeping policy h15 \(revision 5\)/);
    const status = await readPolicyWatchFile(stateDir);
    assert.equal(status?.appliedRevision, '5');
    assert.equal(status?.refused?.revision, '6');
    assert.equal(status?.connected, true);
    assert.equal(status?.running, true);

    // the same revision again (a resync after a reconnect) is not tried again; a new one is
    source.events?.document({ revision: 6n, text: BAD });
    source.events?.document({ revision: 7n, text: GOOD(7) });
    await watch.idle();
    assert.deepEqual(applied, [GOOD(5), GOOD(7)]);
    await watch.stop();
    assert.equal((await readPolicyWatchFile(stateDir))?.running, false);
    assert.equal((await readPolicyWatchFile(stateDir))?.refused, undefined);
    assert.ok(source.closed);
  });

  it('retries an apply that failed for a reason other than the document', async () => {
    let failures = 2;
    const { applied, logs, source, watch } = await setup(() =>
      failures-- > 0 ? new Error('nft: resource busy') : undefined,
    );
    source.events?.document({ revision: 3n, text: GOOD(0) });
    const end = Date.now() + 5000;
    while (applied.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(applied, [GOOD(0)]);
    assert.equal(logs.filter((l) => /not applied: nft: resource busy; trying again/.test(l)).length, 2);
    await watch.stop();
  });

  it('a ConfigError from the host (no fan up) is a refusal, not a retry loop', async () => {
    const { applied, source, watch } = await setup(() => new ConfigError('no fan is up on this host'));
    source.events?.document({ revision: 3n, text: GOOD(0) });
    await watch.idle();
    assert.deepEqual(applied, []);
    assert.equal(watch.state().refused?.error, 'no fan is up on this host');
    await watch.stop();
  });
});

describe('policy publish', () => {
  it('checks the document before it is put', async () => {
    const source = new FakeSource();
    await assert.rejects(publishPolicy(source, BAD, 'p.yaml'), /p\.yaml:1: default/);
    assert.deepEqual(source.published, []);
    const r = await publishPolicy(source, GOOD(0), 'p.yaml');
    assert.deepEqual(r, { source: source.description, revision: '42', bytes: Buffer.byteLength(GOOD(0)) });
    assert.deepEqual(source.published, [GOOD(0)]);
  });
});

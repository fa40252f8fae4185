import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EventLog, NO_EVENTS, addEvents } from './event-log.js';

describe('event log', () => {
  it('counts events per fan and failures per command, leaving the input alone', () => {
    const once = addEvents(NO_EVENTS, [
      { bridge: 'fan-250', event: 'up' },
      { bridge: 'fan-10', event: 'up' },
    ]);
    const twice = addEvents(once, [{ bridge: 'fan-250', event: 'repair' }], 'down');
    assert.deepEqual(twice, {
      version: 1,
      fans: { 'fan-250': { up: 1, repair: 1 }, 'fan-10': { up: 1 } },
      failures: { down: 1 },
    });
    assert.deepEqual(once.fans['fan-250'], { up: 1 });
    assert.deepEqual(NO_EVENTS.fans, {});
  });

  it('persists counts across runs and refuses a corrupt file with the path to fix', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fan-events-'));
    try {
      const log = new EventLog(dir);
      assert.deepEqual(await log.read(), NO_EVENTS);
      await log.add([{ bridge: 'fan-250', event: 'up' }]);
      await new EventLog(dir).add([{ bridge: 'fan-250', event: 'up' }], 'up');
      assert.deepEqual(await log.read(), { version: 1, fans: { 'fan-250': { up: 2 } }, failures: { up: 1 } });
      await writeFile(log.path, '{"version":1,"fans":{"x":{"up":-1}},"failures":{}}');
      await assert.rejects(log.read(), /events\.json is corrupt/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

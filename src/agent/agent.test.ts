import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AgentService, runAgent } from './agent.js';

function service(name: string, events: string[], fail = false): AgentService {
  return {
    name,
    async start() {
      if (fail) throw new Error(`${name} cannot start`);
      events.push(`start ${name}`);
      return { description: `${name} running`, stop: async () => void events.push(`stop ${name}`) };
    },
  };
}

describe('runAgent', () => {
  it('starts in order, waits for the signal, stops in reverse order', async () => {
    const events: string[] = [];
    let stop: (signal: string) => void = () => {};
    const done = runAgent(
      [service('a', events), service('b', events)],
      () => new Promise((resolve) => (stop = resolve)),
      () => {},
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(events, ['start a', 'start b']);
    stop('SIGTERM');
    assert.deepEqual(await done, { services: ['a', 'b'], stoppedBy: 'SIGTERM' });
    assert.deepEqual(events, ['start a', 'start b', 'stop b', 'stop a']);
  });
  it('stops what started when a later service fails to start', async () => {
    const events: string[] = [];
    await assert.rejects(
      runAgent(
        [service('a', events), service('b', events, true)],
        () => new Promise(() => {}),
        () => {},
      ),
      /b cannot start/,
    );
    assert.deepEqual(events, ['start a', 'stop a']);
  });
});

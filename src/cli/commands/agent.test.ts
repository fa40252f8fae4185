import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AgentDeps, AgentOptions } from './agent.js';
import { agentServices } from './agent.js';

const OPTS: AgentOptions = {
  cni: false,
  metrics: false,
  metricsListen: '127.0.0.1:9474',
  doctorInterval: 0,
  dockerSocket: '/x.sock',
};
const DEPS = { log: () => {} } as unknown as AgentDeps;

describe('agentServices: --policy-etcd', () => {
  it('adds the policy watcher as a service', () => {
    assert.deepEqual(agentServices(OPTS, DEPS), []);
    const services = agentServices({ ...OPTS, policyEtcd: 'http://10.0.0.5:2379' }, DEPS);
    assert.deepEqual(
      services.map((s) => s.name),
      ['policy-watch'],
    );
  });
  it('refuses a bad endpoint or key before anything starts', () => {
    assert.throws(() => agentServices({ ...OPTS, policyEtcd: 'ftp://x' }, DEPS), /not an http\(s\) URL/);
    assert.throws(
      () => agentServices({ ...OPTS, policyEtcd: 'http://10.0.0.5:2379', policyKey: 'fan' }, DEPS),
      /does not start with \//,
    );
  });
});

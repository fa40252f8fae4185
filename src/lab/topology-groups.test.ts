import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIpv4 as ip } from '../core/address/ipv4.js';
import { parsePolicy } from '../core/policy/parse.js';
import { labPolicy, labTopology } from './topology.js';

describe('lab groups', () => {
  it('gives containers turns in the groups and writes a policy that parses', () => {
    const options = {
      name: 'fanplx',
      hosts: 2,
      containers: 4,
      overlays: ['250.0.0.0/8'],
      underlay: '172.16.0.0/16',
      dhcp: false,
      type: 'vxlan' as const,
      underlayMtu: 1500,
      groups: ['web=10-19', 'db=20-29'],
    };
    const topo = labTopology(options);
    assert.deepEqual(
      topo.hosts[0]?.containers.map((c) => [c.group, c.address]),
      [
        ['web', ip('250.0.11.10')],
        ['db', ip('250.0.11.20')],
        ['web', ip('250.0.11.11')],
        ['db', ip('250.0.11.21')],
      ],
    );
    const policy = parsePolicy(labPolicy(options) ?? '');
    assert.deepEqual(
      policy.groups.map((g) => g.name),
      ['web', 'db'],
    );
    assert.throws(() => labTopology({ ...options, groups: ['web=10-10'], containers: 2 }), /no room/);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCniArgs, parseNetConf } from './netconf.js';

const base = { cniVersion: '1.0.0', name: 'fannet', type: 'fan' };

describe('netconf policy group', () => {
  it('takes the group from the config, CNI_ARGS FAN_GROUP (which wins) and the pod namespace', () => {
    assert.equal(parseNetConf(JSON.stringify({ ...base, group: 'web' })).group, 'web');
    assert.equal(
      parseNetConf(JSON.stringify({ ...base, group: 'web' }), parseCniArgs('IgnoreUnknown=1;FAN_GROUP=db')).group,
      'db',
    );
    const k8s = parseNetConf(JSON.stringify(base), parseCniArgs('K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=x'));
    assert.equal(k8s.group, undefined);
    assert.equal(k8s.k8sNamespace, 'team-a');
    assert.equal(parseNetConf(JSON.stringify(base)).group, undefined);
    assert.throws(() => parseNetConf(JSON.stringify({ ...base, group: '' })), /group/);
  });
});

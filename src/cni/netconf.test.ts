import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CniError } from './protocol.js';
import { parseCniArgs, parseNetConf, parsePodArgs } from './netconf.js';

const CONF = JSON.stringify({ cniVersion: '1.0.0', name: 'fan-250', type: 'fan' });

describe('CNI_ARGS: the Kubernetes pod', () => {
  it('reads namespace, name and uid as containerd and CRI-O pass them', () => {
    const args = parseCniArgs(
      'IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns-5d78c9869d-8xk2p;' +
        'K8S_POD_INFRA_CONTAINER_ID=0f3c;K8S_POD_UID=6b2a-11ee',
    );
    assert.deepEqual(parsePodArgs(args), {
      namespace: 'kube-system',
      name: 'coredns-5d78c9869d-8xk2p',
      uid: '6b2a-11ee',
    });
    assert.deepEqual(parseNetConf(CONF, args).pod, {
      namespace: 'kube-system',
      name: 'coredns-5d78c9869d-8xk2p',
      uid: '6b2a-11ee',
    });
  });

  it('has no pod without both namespace and name; empty values count as absent; the uid is optional', () => {
    assert.equal(parsePodArgs(parseCniArgs('')), undefined);
    assert.equal(parsePodArgs(parseCniArgs('K8S_POD_NAME=web-0')), undefined);
    assert.equal(parsePodArgs(parseCniArgs('K8S_POD_NAMESPACE=;K8S_POD_NAME=web-0')), undefined);
    assert.deepEqual(parsePodArgs(parseCniArgs('K8S_POD_NAMESPACE=a;K8S_POD_NAME=b;K8S_POD_UID=')), {
      namespace: 'a',
      name: 'b',
    });
    assert.equal('pod' in parseNetConf(CONF, parseCniArgs('IP=250.3.4.9')), false);
  });

  it('keeps "=" inside a value and refuses values Kubernetes cannot produce', () => {
    assert.deepEqual(parsePodArgs(parseCniArgs('K8S_POD_NAMESPACE=a;K8S_POD_NAME=b=c')), {
      namespace: 'a',
      name: 'b=c',
    });
    const refused = (text: string): void =>
      assert.throws(
        () => parsePodArgs(parseCniArgs(text)),
        (e: unknown) => e instanceof CniError && e.code === 4 && /not a Kubernetes name/.test(e.message),
      );
    refused('K8S_POD_NAMESPACE=a;K8S_POD_NAME=web 0');
    refused('K8S_POD_NAMESPACE=a\tb;K8S_POD_NAME=web');
    refused(`K8S_POD_NAMESPACE=a;K8S_POD_NAME=${'x'.repeat(254)}`);
    refused('K8S_POD_NAMESPACE=a;K8S_POD_NAME=b;K8S_POD_UID=\u0007');
  });

  it('refuses an entry that is not KEY=VALUE', () => {
    assert.throws(
      () => parseCniArgs('K8S_POD_NAME'),
      (e: unknown) => e instanceof CniError && e.code === 4,
    );
  });
});

describe('"fastPath"', () => {
  const conf = (extra: object): string => JSON.stringify({ ...JSON.parse(CONF), ...extra });
  it('false is kept; true and absent mean the default (the fast path on a fast-path fan)', () => {
    const none = parseCniArgs('');
    assert.equal(parseNetConf(conf({ fastPath: false }), none).fastPath, false);
    assert.equal('fastPath' in parseNetConf(conf({ fastPath: true }), none), false);
    assert.equal('fastPath' in parseNetConf(CONF, none), false);
  });
  it('anything but a boolean is refused', () => {
    assert.throws(() => parseNetConf(conf({ fastPath: 'no' }), parseCniArgs('')), CniError);
  });
});

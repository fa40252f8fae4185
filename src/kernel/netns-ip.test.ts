import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ipInNetns, iprouteNetnsName } from './netns-ip.js';

describe('ip in a container namespace', () => {
  const same = (path: string): string | undefined =>
    ({ '/run/netns': '/run/netns', '/var/run/netns': '/run/netns' })[path];
  it("takes iproute2's directory by name (one process)", () => {
    assert.equal(iprouteNetnsName('/var/run/netns/cni-1234', same), 'cni-1234');
    assert.equal(iprouteNetnsName('/run/netns/cni-1234', same), 'cni-1234');
    assert.deepEqual(ipInNetns('/var/run/netns/c1', ['link', 'show']), ['ip', '-n', 'c1', 'link', 'show']);
  });
  it('/run/netns only where /var/run is /run', () => {
    const apart = (path: string): string | undefined => path;
    assert.equal(iprouteNetnsName('/run/netns/c1', apart), undefined);
    assert.equal(
      iprouteNetnsName('/run/netns/c1', () => undefined),
      undefined,
    );
  });
  it('anything else goes through nsenter with the path', () => {
    for (const path of ['/proc/4242/ns/net', '/var/run/netns/a/b', '/var/run/netns/..', '/tmp/netns/c1', 'c1'])
      assert.equal(iprouteNetnsName(path, same), undefined, path);
    assert.deepEqual(ipInNetns('/proc/4242/ns/net', ['-batch', '-']), [
      'nsenter',
      '--net=/proc/4242/ns/net',
      'ip',
      '-batch',
      '-',
    ]);
  });
});

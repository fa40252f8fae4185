import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, it } from 'node:test';
import { FrameError, decodeRequest, decodeResponse, encodeRequest, encodeResponse, forwardedEnv } from './protocol.js';

describe('agent wire protocol', () => {
  const request = {
    env: { CNI_COMMAND: 'ADD', CNI_ARGS: 'IgnoreUnknown=1;IP=250.3.4.9', CNI_NETNS: '/var/run/netns/ä b' },
    stdin: '{"cniVersion":"1.0.0","name":"n"}',
  };

  it('round-trips a request and a response, byte-exact for UTF-8 and "=" in values', () => {
    const frame = encodeRequest(request);
    assert.equal(frame.subarray(0, 4).toString(), 'FCQ1');
    assert.deepEqual(decodeRequest(frame), { request, length: frame.length });
    const response = { exitCode: 7, stdout: '{"code":7}\n', stderr: 'fan-cni: ünïcode\n' };
    assert.deepEqual(decodeResponse(encodeResponse(response)), response);
    assert.deepEqual(decodeResponse(encodeResponse({ exitCode: -1, stdout: '', stderr: '' })), {
      exitCode: -1,
      stdout: '',
      stderr: '',
    });
  });

  it('every strict prefix of a frame is incomplete, not an error', () => {
    const req = encodeRequest(request);
    for (let n = 0; n < req.length; n++)
      assert.equal(decodeRequest(req.subarray(0, n)), undefined, `request prefix ${n}`);
    const res = encodeResponse({ exitCode: 0, stdout: 'out', stderr: 'err' });
    for (let n = 0; n < res.length; n++)
      assert.equal(decodeResponse(res.subarray(0, n)), undefined, `response prefix ${n}`);
  });

  it('refuses what cannot become a frame', () => {
    assert.throws(() => decodeRequest(Buffer.from('GET / HTTP/1.1\r\n')), FrameError);
    assert.throws(() => decodeRequest(Buffer.from('FX')), FrameError, 'a wrong magic is seen from its first bytes');
    assert.throws(() => decodeResponse(encodeRequest(request)), FrameError, 'a request is not a response');
    const noEquals = Buffer.concat([
      Buffer.from('FCQ1'),
      Buffer.from([0, 0, 0, 1, 0, 0, 0, 3]),
      Buffer.from('abc'),
      Buffer.from([0, 0, 0, 0]),
    ]);
    assert.throws(() => decodeRequest(noEquals), /not KEY=VALUE/);
    const huge = Buffer.concat([Buffer.from('FCQ1'), Buffer.from([0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff])]);
    assert.throws(() => decodeRequest(huge), /over the/);
  });

  it('forwards the CNI_* variables only', () => {
    assert.deepEqual(
      forwardedEnv({ CNI_COMMAND: 'DEL', CNI_IFNAME: 'eth0', PATH: '/bin', FAN_STATE_DIR: '/x', CNI_UNSET: undefined }),
      { CNI_COMMAND: 'DEL', CNI_IFNAME: 'eth0' },
    );
  });
});

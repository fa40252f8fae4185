import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCidr } from '../address/ipv4.js';
import { assertConfigError } from '../../testing/builders.js';
import { DEFAULT_FAN_CONFIG, parseFanConfig, requireValidConfig } from './fan-file.js';
import { parseFanWords } from './fan-spec.js';

const PATH = '/etc/network/fan';

describe('parseFanConfig', () => {
  it('reads fans, skipping comments and blank lines, keeping line numbers', () => {
    const text = [
      '# /etc/network/fan: one fan per line',
      '',
      '   ',
      '-o 250.0.0.0/8 -u eth0/16 --dhcp   # trailing comment',
      '\t# indented comment',
      '240.0.0.0/8 eth1/16 host-reserve 2',
      '',
    ].join('\n');
    const config = parseFanConfig(text, PATH);
    assert.equal(config.path, PATH);
    assert.deepEqual(config.problems, []);
    assert.deepEqual(
      config.fans.map((f) => [
        f.line,
        formatCidr(f.spec.overlay),
        f.spec.underlay.text,
        f.spec.dhcp,
        f.spec.hostReserve,
      ]),
      [
        [4, '250.0.0.0/8', 'eth0/16', true, 1],
        [6, '240.0.0.0/8', 'eth1/16', false, 2],
      ],
    );
    assert.deepEqual(config.fans[0]?.spec, parseFanWords(['-o', '250.0.0.0/8', '-u', 'eth0/16', '--dhcp']));
  });

  it('keeps `off` lines as disabled fans', () => {
    const config = parseFanConfig('250.0.0.0/8 eth0/16 off\n240.0.0.0/8 eth0/16\n', PATH);
    assert.deepEqual(
      config.fans.map((f) => [f.line, f.spec.enabled]),
      [
        [1, false],
        [2, true],
      ],
    );
  });

  it('accepts and skips a leading `up` verb (Ubuntu files may carry it)', () => {
    const config = parseFanConfig('up 250.0.0.0/8 eth0/16 dhcp\nup -o 240.0.0.0/8 -u eth1\n', PATH);
    assert.deepEqual(config.problems, []);
    assert.deepEqual(config.fans[0]?.spec, parseFanWords(['250.0.0.0/8', 'eth0/16', 'dhcp']));
    assert.deepEqual(config.fans[1]?.spec, parseFanWords(['-o', '240.0.0.0/8', '-u', 'eth1']));
  });

  it('handles CRLF line endings', () => {
    const config = parseFanConfig('# dos file\r\n250.0.0.0/8 eth0/16 dhcp\r\n\r\n240.0.0.0/8 eth1/16 bogus\r\n', PATH);
    assert.equal(config.fans.length, 1);
    assert.equal(config.fans[0]?.line, 2);
    assert.equal(config.fans[0]?.spec.underlay.text, 'eth0/16', 'no stray \\r in the last word');
    assert.deepEqual(config.problems, [
      {
        line: 4,
        message: 'unexpected word "bogus"',
        hint: 'flags are: dhcp, dhcp-range START-END|N, off, host-reserve N, bridge NAME, type vxlan|host-gw|vxlan-fast|host-gw-fast',
      },
    ]);
  });

  it('handles an empty file and a file of only comments', () => {
    assert.deepEqual(parseFanConfig('', PATH), { path: PATH, fans: [], problems: [] });
    assert.deepEqual(parseFanConfig('# nothing\n\n#here\n', PATH), { path: PATH, fans: [], problems: [] });
  });

  it('reports every problem with its line number, and still returns the good lines', () => {
    const text = [
      '250.0.0.0/8 eth0/16', // 1 ok
      '-o 250.0.0.0/8 -u eth0/16 --frob', // 2 unknown option
      '# comment', // 3
      '250.0.0.0 eth0/16', // 4 overlay without prefix
      'up', // 5 nothing after the verb
      '', // 6
      '240.0.0.0/8 eth1/16 host-reserve 0', // 7 bad host-reserve
      '241.0.0.0/8 eth2', // 8 ok
    ].join('\n');
    const config = parseFanConfig(text, PATH);
    assert.deepEqual(
      config.fans.map((f) => f.line),
      [1, 8],
    );
    assert.deepEqual(
      config.problems.map((p) => [p.line, p.message]),
      [
        [2, 'unknown option "--frob"'],
        [4, 'overlay "250.0.0.0" has no prefix length'],
        [5, 'no overlay given'],
        [7, 'host-reserve "0" is not a positive whole number'],
      ],
    );
    assert.ok(config.problems.every((p) => typeof p.hint === 'string' && p.hint.length > 0));
  });

  it('does not treat `up` later in the line as the verb', () => {
    const config = parseFanConfig('250.0.0.0/8 up\n', PATH);
    // `up` here is the underlay (an interface name), not a verb
    assert.deepEqual(config.fans[0]?.spec.underlay, { kind: 'interface', name: 'up', text: 'up' });
  });
});

describe('requireValidConfig', () => {
  it('returns the fans when there is no problem', () => {
    const config = parseFanConfig('250.0.0.0/8 eth0/16\n', PATH);
    assert.equal(requireValidConfig(config), config.fans);
  });

  it('names FILE:LINE with message and hint for a single problem', () => {
    const config = parseFanConfig('# x\n250.0.0.0/8 eth0/16 bogus\n', '/tmp/fan.conf');
    assertConfigError(
      () => requireValidConfig(config),
      '/tmp/fan.conf has 1 error:\n  /tmp/fan.conf:2: unexpected word "bogus" (flags are: ' +
        'dhcp, dhcp-range START-END|N, off, host-reserve N, bridge NAME, type vxlan|host-gw|vxlan-fast|host-gw-fast)',
      'fix the line above; nothing was changed',
    );
  });

  it('lists every problem, one per line, in the plural', () => {
    const config = parseFanConfig('-o 250.0.0.0/8\n\n250 eth0 type ipip\n', PATH);
    assertConfigError(
      () => requireValidConfig(config),
      `${PATH} has 2 errors:\n` +
        `  ${PATH}:1: no underlay given (add -u UNDERLAY, e.g. -u 172.16.0.0/16 or -u eth0/16)\n` +
        `  ${PATH}:3: unknown fan type "ipip" (use one of: vxlan, host-gw, vxlan-fast, host-gw-fast)`,
      'fix the lines above; nothing was changed',
    );
  });

  it("the default path is Ubuntu's", () => {
    assert.equal(DEFAULT_FAN_CONFIG, '/etc/network/fan');
  });
});

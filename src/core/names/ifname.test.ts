import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bridgeNameProblem, ifnameProblem, iproute2Keyword, linuxIfnameProblem } from './ifname.js';

describe('interface names', () => {
  it(`counts bytes, not characters: 15 ASCII or 7 two-byte characters pass, \
16 bytes or 9 two-byte characters do not`, () => {
    assert.equal(ifnameProblem('abcdefghijklmno'), undefined);
    assert.equal(ifnameProblem('ééééééé'), undefined); // 14 bytes
    assert.match(ifnameProblem('abcdefghijklmnop') ?? '', /16 bytes long; Linux allows at most 15 bytes/);
    assert.match(ifnameProblem('ééééééééé') ?? '', /18 bytes long/);
    assert.match(ifnameProblem('ééééééééa') ?? '', /17 bytes long/);
  });

  const refused: readonly [name: string, rule: RegExp][] = [
    ['', /empty/],
    ['.', /reserved by Linux/],
    ['..', /reserved by Linux/],
    ['eth/0', /"\/"/],
    ['eth:0', /":"/],
    ['eth 0', /white space/],
    ['eth\t0', /white space/],
    ['eth\n0', /white space/],
    ['eth\0', /white space or NUL/],
    ['eth\x01', /control character/],
    ['eth\x7f', /control character/],
    ['eth"0', /"""/],
    ['eth\\0', /"\\"/],
    ['eth#0', /comment/],
    ["'eth0", /starts with "'"/],
    ['-eth0', /starts with "-"/],
    ['help', /keyword "help"/],
    ['h', /keyword "help"/],
    ['hel', /keyword "help"/],
    ['mtu', /keyword "mtu"/],
    ['up', /keyword "up"/],
    ['dev', /keyword "dev"/],
    ['name', /keyword "name"/],
    ['type', /keyword "type"/],
    ['ty', /keyword "type"/],
    ['a', /keyword "address"/],
    ['addr', /keyword "address"/],
    ['br', /keyword "broadcast"/],
    ['netns', /keyword "netns"/],
    ['master', /keyword "master"/],
  ];
  for (const [name, rule] of refused) {
    it(`refuses ${JSON.stringify(name)}, naming the rule`, () => assert.match(ifnameProblem(name) ?? 'accepted', rule));
  }

  it('accepts ordinary names, including ones that merely start like a keyword', () => {
    for (const name of [
      'eth0',
      'net1',
      'veth',
      'br0',
      'helpdesk',
      'mtu0',
      'types',
      'upper',
      'fan-250',
      'a.b',
      "eth'0",
      'ethé',
    ]) {
      assert.equal(ifnameProblem(name), undefined, name);
    }
  });

  it('the kernel rule alone accepts what only iproute2 misreads', () => {
    assert.equal(linuxIfnameProblem('help'), undefined);
    assert.equal(linuxIfnameProblem('eth#0'), undefined);
    assert.equal(iproute2Keyword('eth0'), undefined);
  });

  it("bridges: ASCII only, and never fan's tunnel name", () => {
    assert.equal(bridgeNameProblem('fan-250'), undefined);
    assert.match(bridgeNameProblem('fan-vxlan') ?? '', /fan's tunnel device/);
    assert.match(bridgeNameProblem('fané') ?? '', /other than ASCII/);
    assert.match(bridgeNameProblem('fan+') ?? '', /other than ASCII letters/);
    assert.match(bridgeNameProblem('help') ?? '', /keyword "help"/);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIpv4 } from '../core/address/ipv4.js';
import type { PortBinding } from '../core/bind/binding.js';
import {
  BIND_RULE_COMMENTS,
  decodeBindJson,
  decodeBindKey,
  isBindContent,
  renderBindChange,
  renderBindDiff,
  renderBindReplace,
  renderBindTable,
} from './bind-nft.js';

const A: PortBinding = { port: 'fan0123abcd', mac: '0a:58:fa:00:0b:02', addresses: [parseIpv4('250.0.11.2')] };
const B: PortBinding = { port: 'fan89abcdef', mac: '0a:58:fa:00:0b:03', addresses: [parseIpv4('250.0.11.3')] };
const SPEC = { reserved: [{ first: parseIpv4('250.0.11.0'), last: parseIpv4('250.0.11.1') }], bindings: [A, B] };

/** `nft -j list table bridge fan-bind` as nft 1.0.6 prints it for SPEC (counters live). */
const LISTING = JSON.stringify({
  nftables: [
    { metainfo: { version: '1.0.6' } },
    { table: { family: 'bridge', name: 'fan-bind', handle: 5 } },
    { set: { name: 'ports', type: 'ifname', elem: ['fan89abcdef', 'fan0123abcd'] } },
    {
      set: {
        name: 'macs',
        type: ['ifname', 'ether_addr'],
        elem: [{ concat: ['fan0123abcd', '0a:58:fa:00:0b:02'] }, { concat: ['fan89abcdef', '0a:58:fa:00:0b:03'] }],
      },
    },
    {
      set: {
        name: 'bound',
        type: ['ifname', 'ipv4_addr'],
        elem: [{ concat: ['fan0123abcd', '250.0.11.2'] }, { concat: ['fan89abcdef', '250.0.11.3'] }],
      },
    },
    { set: { name: 'addrs', type: 'ipv4_addr', elem: ['250.0.11.3', '250.0.11.2'] } },
    {
      set: {
        name: 'reserved',
        type: 'ipv4_addr',
        flags: ['interval'],
        elem: [{ prefix: { addr: '250.0.11.0', len: 31 } }],
      },
    },
    ...BIND_RULE_COMMENTS.map((comment, i) => ({
      rule: { chain: 'prerouting', comment, expr: [{ counter: { packets: i, bytes: 60 * i } }, { drop: null }] },
    })),
  ],
});

describe('renderBindTable', () => {
  it('one table: the sets with each binding as elements, the reserved ranges, the rules on bridge prerouting', () => {
    const text = renderBindTable(SPEC, 'abc123');
    assert.match(text, /^table bridge fan-bind \{\n\tcomment "managed by fanctl; bind key abc123"\n/);
    assert.match(text, /elements = \{ "fan0123abcd" \. 0a:58:fa:00:0b:02, "fan89abcdef" \. 0a:58:fa:00:0b:03 \}/);
    assert.match(text, /elements = \{ "fan0123abcd" \. 250\.0\.11\.2, "fan89abcdef" \. 250\.0\.11\.3 \}/);
    assert.match(text, /\t\tflags interval\n\t\telements = \{ 250\.0\.11\.0-250\.0\.11\.1 \}/);
    assert.match(text, /type filter hook prerouting priority -200; policy accept;/);
  });

  it('the same number of rules for 0 or 500 bound ports', () => {
    const many = Array.from({ length: 500 }, (_, i) => ({ ...A, port: `fan${String(i).padStart(8, '0')}` }));
    const rules = (t: string): number => t.split('\n').filter((l) => l.includes(' counter drop ')).length;
    assert.equal(rules(renderBindTable({ ...SPEC, bindings: [] }, '1')), BIND_RULE_COMMENTS.length);
    assert.equal(rules(renderBindTable({ ...SPEC, bindings: many }, '1')), BIND_RULE_COMMENTS.length);
  });

  it('every rule counts under its own comment', () => {
    assert.equal(new Set(BIND_RULE_COMMENTS).size, BIND_RULE_COMMENTS.length);
    assert.ok(BIND_RULE_COMMENTS.every((c) => c.startsWith('fan: ')));
  });

  it('replace creates-if-absent, deletes and defines in one script; the key reads back', () => {
    const script = renderBindReplace(SPEC, 'abc123');
    assert.ok(script.startsWith('table bridge fan-bind\ndelete table bridge fan-bind\ntable bridge fan-bind {'));
    assert.equal(decodeBindKey(script), 'abc123');
    assert.equal(decodeBindKey('table bridge fan-bind {\n}\n'), undefined);
  });
});

describe('element changes', () => {
  it('adding fills the address sets before the port joins `ports`; deleting takes it out of `ports` first', () => {
    assert.deepEqual(renderBindChange('add', [A]), [
      'add element bridge fan-bind addrs { 250.0.11.2 }',
      'add element bridge fan-bind bound { "fan0123abcd" . 250.0.11.2 }',
      'add element bridge fan-bind macs { "fan0123abcd" . 0a:58:fa:00:0b:02 }',
      'add element bridge fan-bind ports { "fan0123abcd" }',
    ]);
    assert.equal(renderBindChange('delete', [A])[0], 'delete element bridge fan-bind ports { "fan0123abcd" }');
    assert.deepEqual(renderBindChange('add', []), []);
  });

  it('a rebinding touches only what changed (no moment without the elements that stay)', () => {
    const moved = { ...A, addresses: [parseIpv4('250.0.11.9')] };
    assert.deepEqual(renderBindDiff([A], [moved]), {
      remove: [
        'delete element bridge fan-bind bound { "fan0123abcd" . 250.0.11.2 }',
        'delete element bridge fan-bind addrs { 250.0.11.2 }',
      ],
      add: [
        'add element bridge fan-bind addrs { 250.0.11.9 }',
        'add element bridge fan-bind bound { "fan0123abcd" . 250.0.11.9 }',
      ],
    });
  });
});

describe('decodeBindJson / isBindContent', () => {
  it('reads the elements in the form fan writes them, the rules in order, and their counters', () => {
    const content = decodeBindJson(LISTING);
    assert.deepEqual(content.elements.ports, ['"fan89abcdef"', '"fan0123abcd"']);
    assert.deepEqual(content.rules, BIND_RULE_COMMENTS);
    assert.equal(content.counters[1]?.rule, 'source address not given to this port');
    assert.equal(content.counters[1]?.packets, 1);
  });

  it('matches the rendered bindings whatever order nft lists them in', () => {
    assert.ok(isBindContent(decodeBindJson(LISTING), [B, A]));
  });

  it('notices a missing element, an extra one, and a flushed chain', () => {
    const content = decodeBindJson(LISTING);
    assert.equal(isBindContent(content, [A]), false);
    assert.equal(isBindContent(content, [A, B, { ...B, port: 'fanffffffff' }]), false);
    assert.equal(isBindContent({ ...content, rules: [] }, [A, B]), false);
  });
});

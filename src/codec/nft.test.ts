// A golden test reads its expected text; nothing else here does I/O (docs/architecture.md, tests).
// eslint-disable-next-line no-restricted-imports -- the golden file
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCidr } from '../core/address/ipv4.js';
import type { NatSpec } from '../core/model/host-state.js';
import { natKey } from '../core/plan/diff.js';
import { decodeNftKey, isRenderedTable, renderNftReplace, renderNftTable } from './nft.js';

/** The repository root, from the compiled test in dist/src/codec/. */
const ROOT = new URL('../../../', import.meta.url);

function golden(name: string): string {
  return readFileSync(new URL(`test/golden/nft/${name}`, ROOT), 'utf8');
}

/** `fanctl up -o 250.0.0.0/8 -u 172.16.0.0/16` on host 172.16.3.4 (see src/core/plan/host-plan.test.ts). */
const ONE_FAN: NatSpec = {
  slices: [parseCidr('250.3.4.0/24')],
  overlays: [parseCidr('250.0.0.0/8')],
  bridges: ['fan-250'],
  tunnel: 'fan-vxlan',
  tunnelPort: 8472,
};

/** Two fans sharing the tunnel: the one above and 240.0.0.0/8 over 10.99.0.0/16 (host 10.99.238.5). */
const TWO_FANS: NatSpec = {
  slices: [parseCidr('250.3.4.0/24'), parseCidr('240.238.5.0/24')],
  overlays: [parseCidr('250.0.0.0/8'), parseCidr('240.0.0.0/8')],
  bridges: ['fan-250', 'fan-240'],
  tunnel: 'fan-vxlan',
  tunnelPort: 8472,
};

const HINT = 'if the change is intended, render the script again and update the golden file after reading the diff';

describe('renderNftReplace (golden)', () => {
  it('one fan', () => {
    assert.equal(renderNftReplace(ONE_FAN, natKey(ONE_FAN)), golden('one-fan.nft'), HINT);
  });

  it('two fans with the tunnel', () => {
    assert.equal(renderNftReplace(TWO_FANS, natKey(TWO_FANS)), golden('two-fans.nft'), HINT);
  });
});

describe('renderNftTable', () => {
  it('replace = create-if-absent, delete, then the table (one transaction)', () => {
    const script = renderNftReplace(ONE_FAN, 'abc');
    assert.equal(script, `table ip fan\ndelete table ip fan\n${renderNftTable(ONE_FAN, 'abc')}`);
  });

  it('no tunnel (host-gw only): no MSS clamp, anti-spoofing still there', () => {
    const { tunnel: _t, tunnelPort: _p, ...hostGw } = ONE_FAN;
    const text = renderNftTable(hostGw, '1');
    assert.doesNotMatch(text, /maxseg/);
    assert.match(
      text,
      /\t\tiifname "fan-250" ip saddr != 250\.3\.4\.0\/24 counter drop comment "fan: anti-spoofing on fan-250"\n/,
    );
  });

  it('one anti-spoofing rule per bridge, each with its own slice', () => {
    const rules = renderNftTable(TWO_FANS, '1')
      .split('\n')
      .filter((l) => l.includes('anti-spoofing on'));
    assert.deepEqual(
      rules.map((l) => l.trim().split(' ').slice(0, 6).join(' ')),
      ['iifname "fan-250" ip saddr != 250.3.4.0/24', 'iifname "fan-240" ip saddr != 240.238.5.0/24'],
    );
  });
});

describe('renderNftTable: what containers may send to and through the host', () => {
  const chain = (text: string, name: string): string[] => {
    const start = text.indexOf(`\tchain ${name} {`);
    return text
      .slice(start, text.indexOf('\t}', start))
      .split('\n')
      .slice(2)
      .map((l) => l.trim());
  };

  it(`an input chain: tunnel port from a bridge dropped, DHCP accepted, \
then any source outside the slice dropped`, () => {
    assert.deepEqual(chain(renderNftTable(ONE_FAN, '1'), 'input'), [
      'iifname "fan-250" udp dport 8472 counter drop comment "fan: ' +
        'tunnel port from a container on fan-250 (to this host)"',
      'iifname "fan-250" ip saddr 0.0.0.0 udp dport 67 accept comment "fan: DHCP request on fan-250"',
      'iifname "fan-250" ip saddr != 250.3.4.0/24 counter drop comment "fan: anti-spoofing into the host on fan-250"',
      '',
    ]);
  });

  it('forwarded UDP to the tunnel port from a bridge is dropped too, for every bridge', () => {
    const forward = chain(renderNftTable(TWO_FANS, '1'), 'forward');
    assert.ok(
      forward.includes(
        'iifname "fan-240" udp dport 8472 counter drop comment "fan: ' +
          'tunnel port from a container on fan-240 (forwarded)"',
      ),
    );
    assert.ok(
      forward.includes(
        'iifname "fan-250" udp dport 8472 counter drop comment "fan: ' +
          'tunnel port from a container on fan-250 (forwarded)"',
      ),
    );
  });

  it('no tunnel (host-gw only): no tunnel-port rule, the input anti-spoofing stays', () => {
    const { tunnel: _t, tunnelPort: _p, ...hostGw } = ONE_FAN;
    const text = renderNftTable(hostGw, '1');
    assert.doesNotMatch(text, /udp dport 8472/);
    assert.match(
      text,
      /iifname "fan-250" ip saddr != 250\.3\.4\.0\/24 counter drop comment "fan: anti-spoofing into the host/,
    );
  });

  it('every counted rule has its own comment (metrics label the counters by it)', () => {
    const comments = renderNftTable(TWO_FANS, '1')
      .split('\n')
      .filter((l) => l.includes(' counter '))
      .map((l) => /comment "([^"]*)"/.exec(l)?.[1]);
    assert.equal(new Set(comments).size, comments.length);
  });
});

describe('decodeNftKey', () => {
  it('reads the key back from a listing of the rendered table', () => {
    const key = natKey(TWO_FANS);
    assert.equal(decodeNftKey(renderNftTable(TWO_FANS, key)), key);
  });

  it('reads the key from `nft list table ip fan` as nft 1.0.6 prints it (comment line, then a blank line)', () => {
    const listing = [
      'table ip fan {',
      '\tcomment "managed by fanctl; key 5e1f0a9c"',
      '',
      '\tset overlays {',
      '\t\ttype ipv4_addr',
      '\t\tflags interval',
      '\t\telements = { 250.0.0.0/8 }',
      '\t}',
      '',
      '\tset slices {',
      '\t\ttype ipv4_addr',
      '\t\tflags interval',
      '\t\telements = { 250.3.4.0/24 }',
      '\t}',
      '',
      '\tchain postrouting {',
      '\t\ttype nat hook postrouting priority srcnat; policy accept;',
      '\t\tip saddr @slices ip daddr != @overlays counter packets 12 bytes 1008 masquerade comment "fan: ' +
        'egress NAT to the underlay address"',
      '\t}',
      '',
      '\tchain forward {',
      '\t\ttype filter hook forward priority filter; policy accept;',
      '\t\tiifname "fan-250" ip saddr != 250.3.4.0/24 counter packets 0 bytes 0 drop comment "fan: ' +
        'anti-spoofing on fan-250"',
      '\t\toifname "fan-vxlan" tcp flags syn tcp option maxseg size set rt mtu comment "fan: ' +
        'clamp MSS to the tunnel MTU"',
      '\t}',
      '}',
      '',
    ].join('\n');
    assert.equal(decodeNftKey(listing), '5e1f0a9c');
  });

  it('undefined without the table comment (a table made by hand, or an older fan)', () => {
    const listing =
      'table ip fan {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n' +
      '\t\tcounter comment "fan: x"\n\t}\n}\n';
    assert.equal(decodeNftKey(listing), undefined);
    assert.equal(decodeNftKey(''), undefined);
  });

  it('ignores a rule comment that imitates the table comment', () => {
    const listing = 'table ip fan {\n\tchain c {\n\t\tcounter comment "managed by fanctl; key 0000abcd"\n\t}\n}\n';
    assert.equal(decodeNftKey(listing), undefined);
  });
});

describe('isRenderedTable', () => {
  const three: NatSpec = {
    slices: [parseCidr('250.0.12.0/24'), parseCidr('251.0.12.0/24'), parseCidr('252.0.12.0/24')],
    overlays: [parseCidr('250.0.0.0/8'), parseCidr('251.0.0.0/8'), parseCidr('252.0.0.0/8')],
    bridges: ['fan-250', 'fan-251', 'fan-252'],
    tunnel: 'fan-vxlan',
  };
  const rendered = renderNftTable(three, 'k1');

  it('accepts the listing nft prints, with wrapped element lists and live counters', () => {
    const listing = rendered
      .replace('250.0.12.0/24, 251.0.12.0/24, 252.0.12.0/24', '250.0.12.0/24, 251.0.12.0/24,\n\t\t\t     252.0.12.0/24')
      .replace('counter masquerade', 'counter packets 12 bytes 3400 masquerade');
    assert.ok(isRenderedTable(listing, three, 'k1'));
  });

  it('accepts the elements of an interval set in the address order nft lists them', () => {
    const listing = rendered.replace(
      '250.0.12.0/24, 251.0.12.0/24, 252.0.12.0/24',
      '252.0.12.0/24, 250.0.12.0/24, 251.0.12.0/24',
    );
    assert.ok(isRenderedTable(listing, three, 'k1'));
  });

  it('refuses a flushed table that still carries the key', () => {
    const flushed = rendered
      .split('\n')
      .filter((l) => !l.includes('masquerade') && !l.includes('drop'))
      .join('\n');
    assert.ok(!isRenderedTable(flushed, three, 'k1'));
  });
});

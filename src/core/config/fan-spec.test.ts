import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatCidr, formatIpv4, hostMask, mask, network, u32 } from '../address/ipv4.js';
import { bridgeNameProblem } from '../names/ifname.js';
import { checkOverlay, defineFan } from '../mapping/fan.js';
import { assertConfigError, cidrOf } from '../../testing/builders.js';
import {
  DATAPLANE_TYPES,
  DEFAULT_HOST_RESERVE,
  type FanSpec,
  type UnderlaySpec,
  parseBridgeName,
  parseFanWords,
  parseHostReserve,
  parseOverlay,
  parseType,
  parseUnderlay,
  parseDhcpRange,
  toFanWords,
} from './fan-spec.js';

const words = (line: string): string[] => line.split(/\s+/).filter((w) => w !== '');
const parse = (line: string): FanSpec => parseFanWords(words(line));

const eth0Slash16: UnderlaySpec = { kind: 'interface', name: 'eth0', prefix: 16, text: 'eth0/16' };

describe('parseFanWords: accepted forms', () => {
  it('new form: -o OVERLAY -u UNDERLAY, with defaults', () => {
    assert.deepEqual(parse('-o 250.0.0.0/8 -u 172.16.0.0/16'), {
      overlay: cidrOf('250.0.0.0/8'),
      underlay: { kind: 'cidr', cidr: cidrOf('172.16.0.0/16'), text: '172.16.0.0/16' },
      dhcp: false,
      hostReserve: DEFAULT_HOST_RESERVE,
      type: 'vxlan',
      enabled: true,
    });
    assert.equal(DEFAULT_HOST_RESERVE, 1);
  });

  it('new form with every option, long spellings', () => {
    assert.deepEqual(
      parse('--overlay 250.0.0.0/8 --underlay eth0/16 --dhcp --bridge fanbr --host-reserve 3 --type host-gw'),
      {
        overlay: cidrOf('250.0.0.0/8'),
        underlay: eth0Slash16,
        dhcp: true,
        bridge: 'fanbr',
        hostReserve: 3,
        type: 'host-gw',
        enabled: true,
      },
    );
  });

  it('old positional form: 250.0.0.0/8 eth0/16 dhcp host-reserve 2 bridge NAME', () => {
    assert.deepEqual(parse('250.0.0.0/8 eth0/16 dhcp host-reserve 2 bridge fan-a'), {
      overlay: cidrOf('250.0.0.0/8'),
      underlay: eth0Slash16,
      dhcp: true,
      bridge: 'fan-a',
      hostReserve: 2,
      type: 'vxlan',
      enabled: true,
    });
  });

  it('mixed forms: a bare word fills whichever of overlay/underlay was not given as an option', () => {
    const expected = parse('-o 250.0.0.0/8 -u eth0/16 --dhcp');
    assert.deepEqual(parse('-u eth0/16 250.0.0.0/8 dhcp'), expected);
    assert.deepEqual(parse('250.0.0.0/8 -u eth0/16 --dhcp'), expected);
    assert.deepEqual(parse('-o 250.0.0.0/8 eth0/16 dhcp'), expected);
    assert.deepEqual(parse('dhcp 250.0.0.0/8 eth0/16'), expected);
  });

  it('--name=VALUE spellings', () => {
    const spec = parse('--overlay=250.0.0.0/8 --underlay=eth0/16 --bridge=fan-x --host-reserve=4 --type=host-gw');
    assert.equal(spec.bridge, 'fan-x');
    assert.equal(spec.hostReserve, 4);
    assert.equal(spec.type, 'host-gw');
    assert.deepEqual(spec.underlay, eth0Slash16);
    assert.deepEqual(spec.overlay, cidrOf('250.0.0.0/8'));
  });

  it('short spellings -b and -t, and old-form `type`', () => {
    assert.equal(parse('-o 250 -u eth0 -b br0').bridge, 'br0');
    assert.equal(parse('-o 250 -u eth0 -t host-gw').type, 'host-gw');
    assert.equal(parse('250 eth0 type host-gw').type, 'host-gw');
    assert.equal(parse('250 eth0 type vxlan').type, 'vxlan');
  });

  it('overlay shorthand 15 means 15.0.0.0/8', () => {
    assert.deepEqual(parse('15 eth0/16').overlay, cidrOf('15.0.0.0/8'));
    assert.deepEqual(parseOverlay('250'), cidrOf('250.0.0.0/8'));
    assert.deepEqual(parseOverlay('0'), cidrOf('0.0.0.0/8'));
  });

  it('default/16 and default', () => {
    assert.deepEqual(parse('250 default/16').underlay, { kind: 'default', prefix: 16, text: 'default/16' });
    assert.deepEqual(parse('250 default').underlay, { kind: 'default', text: 'default' });
  });

  it('an interface without a length takes the interface prefix later', () => {
    const u = parse('250.0.0.0/8 eth0').underlay;
    assert.deepEqual(u, { kind: 'interface', name: 'eth0', text: 'eth0' });
    assert.ok(!('prefix' in u), 'no prefix key at all');
  });

  it('ADDRESS/LEN keeps the host address', () => {
    assert.deepEqual(parse('-o 250.0.0.0/8 -u 172.16.3.4/16').underlay, {
      kind: 'cidr',
      cidr: cidrOf('172.16.3.4/16'),
      text: '172.16.3.4/16',
    });
  });

  it('off (and --off) keeps the line but disables it', () => {
    assert.equal(parse('250.0.0.0/8 eth0/16 off').enabled, false);
    assert.equal(parse('-o 250.0.0.0/8 -u eth0/16 --off').enabled, false);
    assert.equal(parse('250.0.0.0/8 eth0/16').enabled, true);
  });

  it('words that name Object.prototype members are plain words, not options', () => {
    assert.deepEqual(parse('250.0.0.0/8 constructor').underlay, {
      kind: 'interface',
      name: 'constructor',
      text: 'constructor',
    });
    assert.deepEqual(parse('250.0.0.0/8 toString/16').underlay, {
      kind: 'interface',
      name: 'toString',
      prefix: 16,
      text: 'toString/16',
    });
    assertConfigError(() => parse('250.0.0.0/8 eth0 valueOf'), 'unexpected word "valueOf"');
    assertConfigError(() => parse('250.0.0.0/8 eth0 __proto__ x'), 'unexpected word "__proto__"');
  });

  it('a repeated flag is harmless; a repeated option is refused even with the same value', () => {
    assert.deepEqual(parse('-o 250.0.0.0/8 -u eth0/16 dhcp dhcp'), parse('-o 250.0.0.0/8 -u eth0/16 --dhcp'));
    assertConfigError(
      () => parse('-o 250.0.0.0/8 -u eth0/16 -o 250.0.0.0/8'),
      'overlay is given twice ("250.0.0.0/8" and "250.0.0.0/8")',
      'give -o once (remove one of the two)',
    );
    assertConfigError(
      () => parse('250 eth0 host-reserve 2 --host-reserve=2'),
      'host-reserve is given twice ("2" and "2")',
      /--host-reserve once/,
    );
    assertConfigError(
      () => parse('-u eth0/16 -o 250.0.0.0/8 -u eth0/16'),
      'underlay is given twice ("eth0/16" and "eth0/16")',
      /-u once/,
    );
  });

  it('checks the mapping early when the underlay is a CIDR, and late (at resolve) otherwise', () => {
    assertConfigError(() => parse('-o 250.0.0.0/16 -u 172.16.0.0/16'), /must be wider than underlay 172\.16\.0\.0\/16/);
    assertConfigError(
      () => parse('-o 127.0.0.0/8 -u 172.16.0.0/16'),
      'overlay 127.0.0.0/8 overlaps loopback (127.0.0.0/8)',
    );
    assertConfigError(
      () => parse('-o 172.0.0.0/8 -u 172.16.3.4/16'),
      'overlay 172.0.0.0/8 overlaps underlay 172.16.0.0/16',
    );
    // A reserved overlay is refused whatever the underlay; width and overlap wait for the host's address.
    assertConfigError(() => parse('-o 127.0.0.0/8 -u eth0/16'), 'overlay 127.0.0.0/8 overlaps loopback (127.0.0.0/8)');
    assert.equal(parse('-o 250.0.0.0/24 -u eth0/16').underlay.kind, 'interface');
  });
});

describe('parseFanWords: errors', () => {
  const cases: readonly [line: string, message: string | RegExp, hint?: string | RegExp][] = [
    ['-o 250.0.0.0/8 -u eth0/16 --frobnicate', 'unknown option "--frobnicate"', /^known: -o OVERLAY -u UNDERLAY/],
    ['-o 250.0.0.0/8 -u eth0/16 -x', 'unknown option "-x"'],
    ['-o 250.0.0.0/8 -u eth0/16 --dhcp=yes', 'unknown option "--dhcp=yes"'],
    ['', 'no overlay given', 'add -o OVERLAY, e.g. -o 250.0.0.0/8'],
    ['dhcp', 'no overlay given'],
    ['-u eth0/16', 'no overlay given'],
    ['-o 250.0.0.0/8', 'no underlay given', 'add -u UNDERLAY, e.g. -u 172.16.0.0/16 or -u eth0/16'],
    ['250.0.0.0/8 dhcp', 'no underlay given'],
    ['-u eth0/16 -o', '-o needs a value', 'write -o VALUE'],
    ['250 eth0 bridge', 'bridge needs a value'],
    ['250 eth0 --bridge=', '--bridge needs a value'],
    [
      '-o 250.0.0.0/8 -o 251.0.0.0/8 -u eth0',
      'overlay is given twice ("250.0.0.0/8" and "251.0.0.0/8")',
      'give -o once (remove one of the two)',
    ],
    ['-o 250 -u eth0 -u eth1', 'underlay is given twice ("eth0" and "eth1")'],
    ['250 eth0 host-reserve 2 --host-reserve 3', 'host-reserve is given twice ("2" and "3")'],
    ['250 eth0 bridge a -b b', 'bridge is given twice ("a" and "b")'],
    ['250 eth0 type vxlan --type host-gw', 'type is given twice ("vxlan" and "host-gw")'],
    ['250 eth0 host-reserve x', 'host-reserve "x" is not a positive whole number', /includes the bridge address/],
    ['250 eth0 host-reserve 0', 'host-reserve "0" is not a positive whole number'],
    ['250 eth0 host-reserve -1', 'host-reserve "-1" is not a positive whole number'],
    ['250 eth0 host-reserve 1.5', 'host-reserve "1.5" is not a positive whole number'],
    [
      '250 eth0 bridge this-is-too-long',
      'bridge name "this-is-too-long" is not a valid interface name: ' +
        'it is 16 bytes long; Linux allows at most 15 bytes',
      /use 1-15 ASCII letters, digits/,
    ],
    ['250 eth0 bridge fan/1', /^bridge name "fan\/1" is not a valid interface name: /],
    ['250 eth0 bridge fan$', /^bridge name "fan\$" is not a valid interface name: /],
    ['250 eth0 bridge fan:1', /^bridge name "fan:1" is not a valid interface name: /],
    ['250 eth0 bridge .', /^bridge name "\." is not a valid interface name: /],
    ['250 eth0 bridge ..', /^bridge name "\.\." is not a valid interface name: /],
    [
      '250 eth0 bridge fan-vxlan',
      'bridge name "fan-vxlan" is not a valid interface name: "fan-vxlan" is the name of fan\'s tunnel device',
    ],
    ['250 eth0 bridge help', 'bridge name "help" is not a valid interface name: ip reads "help" as its keyword "help"'],
    ['250 eth0 bridge he', 'bridge name "he" is not a valid interface name: ip reads "he" as its keyword "help"'],
    ['250 eth0 bridge mtu', 'bridge name "mtu" is not a valid interface name: ip reads "mtu" as its keyword "mtu"'],
    [
      '250 eth0 bridge -fan',
      'bridge name "-fan" is not a valid interface name: it starts with "-", which tools read as an option',
    ],
    [
      '250 eth0 bridge fän',
      /^bridge name "fän" is not a valid interface name: it contains a character other than ASCII/,
    ],
    [
      '255.255.255.255/8 eth0/16',
      'overlay "255.255.255.255/8" is not a network: it has host bits set',
      'write the network address, 255.0.0.0/8 (an overlay names a whole range)',
    ],
    ['250.1.0.0/8 eth0/16', 'overlay "250.1.0.0/8" is not a network: it has host bits set', /250\.0\.0\.0\/8/],
    ['250 eth0 type ipip', 'unknown fan type "ipip"', 'use one of: vxlan, host-gw, vxlan-fast, host-gw-fast'],
    ['250 eth0 --type=VXLAN', 'unknown fan type "VXLAN"'],
    ['250.0.0.0 eth0/16', 'overlay "250.0.0.0" has no prefix length', /e\.g\. 250\.0\.0\.0\/8, or as one octet/],
    ['256 eth0/16', 'overlay shorthand "256" is not an octet', 'use 0-255, e.g. 250 for 250.0.0.0/8'],
    ['250.0.0/8 eth0/16', '"250.0.0" is not an IPv4 address'],
    ['250.0.0.0/33 eth0/16', 'prefix length "33" is out of range'],
    ['250 172.16.3.4', 'underlay "172.16.3.4" has no prefix length', 'write it as 172.16.3.4/LEN, e.g. 172.16.3.4/16'],
    ['250 172.16.3/16', '"172.16.3" is not an IPv4 address'],
    ['250 eth0/x', 'prefix length "x" is not a number'],
    ['250 eth0/', 'prefix length "" is not a number'],
    ['250 eth0/16/2', 'underlay "eth0/16/2" is malformed', /write NETWORK\/LEN/],
    ['250 /16', 'underlay "/16" is malformed'],
    [
      '250 eth$0/16',
      'underlay "eth$0/16" is neither an address nor an interface name',
      'write NETWORK/LEN, ADDRESS/LEN, IFACE/LEN or default/LEN',
    ],
    ['250 averyveryverylongname', 'underlay "averyveryverylongname" is neither an address nor an interface name'],
    [
      '250.0.0.0/8 eth0/16 bogus',
      'unexpected word "bogus"',
      'flags are: dhcp, dhcp-range START-END|N, off, host-reserve N, bridge NAME, type vxlan|host-gw|vxlan-fast|host-gw-fast',
    ],
    ['-o 250 -u eth0 eth1', 'unexpected word "eth1"'],
  ];
  for (const [line, message, hint] of cases) {
    it(`${JSON.stringify(line)} → ${message}`, () => {
      assertConfigError(() => parse(line), message, hint);
    });
  }
});

describe('single-field parsers', () => {
  it('parseUnderlay', () => {
    assert.deepEqual(parseUnderlay('10.0.0.0/8'), { kind: 'cidr', cidr: cidrOf('10.0.0.0/8'), text: '10.0.0.0/8' });
    assert.deepEqual(parseUnderlay('br-lan.5/24'), {
      kind: 'interface',
      name: 'br-lan.5',
      prefix: 24,
      text: 'br-lan.5/24',
    });
    assert.deepEqual(parseUnderlay('default/0'), { kind: 'default', prefix: 0, text: 'default/0' });
  });
  it('parseBridgeName accepts 15 characters and refuses 16 or none', () => {
    assert.equal(parseBridgeName('abcdefghijklmno'), 'abcdefghijklmno');
    assert.equal(parseBridgeName('fan-250.x_1'), 'fan-250.x_1');
    assert.equal(parseBridgeName('...'), '...');
    assertConfigError(
      () => parseBridgeName('abcdefghijklmnop'),
      /^bridge name "abcdefghijklmnop" is not a valid interface name: /,
    );
    assertConfigError(() => parseBridgeName(''), /^bridge name "" is not a valid interface name: /);
  });
  it('parseHostReserve', () => {
    assert.equal(parseHostReserve('1'), 1);
    assert.equal(parseHostReserve('250'), 250);
    assertConfigError(() => parseHostReserve(''), 'host-reserve "" is not a positive whole number');
  });
  it('parseType knows exactly vxlan, host-gw and their fast paths', () => {
    assert.deepEqual([...DATAPLANE_TYPES], ['vxlan', 'host-gw', 'vxlan-fast', 'host-gw-fast']);
    assert.equal(parseType('host-gw-fast'), 'host-gw-fast');
    assert.equal(parseType('vxlan'), 'vxlan');
    assert.equal(parseType('host-gw'), 'host-gw');
  });
});

describe('toFanWords', () => {
  it('prints canonical new-form words, omitting defaults', () => {
    assert.deepEqual(toFanWords(parse('250 eth0/16')), ['-o', '250.0.0.0/8', '-u', 'eth0/16']);
    assert.deepEqual(toFanWords(parse('15 default dhcp host-reserve 2 bridge br0 type host-gw off')), [
      '-o',
      '15.0.0.0/8',
      '-u',
      'default',
      '--dhcp',
      '--bridge',
      'br0',
      '--host-reserve',
      '2',
      '--type',
      'host-gw',
      'off',
    ]);
  });

  // Structural generator over every FanSpec shape the grammar can produce.
  const u32Arb = fc.integer({ min: 0, max: 0xffffffff });
  const prefixOpt = fc.option(fc.integer({ min: 0, max: 32 }), { nil: undefined });
  const ifnameArb = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,15}$/).filter((n) => n !== 'default' && !/^[\d.]+$/.test(n));
  const specArb: fc.Arbitrary<FanSpec> = fc
    .record({
      ov: fc.integer({ min: 1, max: 31 }),
      o: u32Arb,
      ul: fc.integer({ min: 0, max: 32 }),
      u: u32Arb,
      kind: fc.constantFrom('cidr', 'interface', 'default'),
      name: ifnameArb,
      prefix: prefixOpt,
      dhcp: fc.boolean(),
      dhcpRange: fc.option(
        fc.oneof(
          fc.integer({ min: 1, max: 65535 }).map(String),
          fc.tuple(u32Arb, u32Arb).map(([a, b]) => `${formatIpv4(Math.min(a, b))}-${formatIpv4(Math.max(a, b))}`),
        ),
        { nil: undefined },
      ),
      bridge: fc.option(
        fc.stringMatching(/^[A-Za-z0-9_.-]{1,15}$/).filter((b) => bridgeNameProblem(b) === undefined),
        { nil: undefined },
      ),
      hostReserve: fc.integer({ min: 1, max: 100000 }),
      type: fc.constantFrom(...DATAPLANE_TYPES),
      enabled: fc.boolean(),
    })
    .filter((r) => {
      try {
        if (r.kind !== 'cidr') checkOverlay({ address: r.o, prefix: r.ov });
        else defineFan({ address: r.o, prefix: r.ov }, { address: r.u, prefix: r.ul });
        return true;
      } catch {
        return false;
      }
    })
    .map((r): FanSpec => {
      const suffix = r.prefix === undefined ? '' : `/${r.prefix}`;
      const underlay: UnderlaySpec =
        r.kind === 'cidr'
          ? { kind: 'cidr', cidr: { address: r.u, prefix: r.ul }, text: `${formatIpv4(r.u)}/${r.ul}` }
          : r.kind === 'default'
            ? { kind: 'default', ...(r.prefix === undefined ? {} : { prefix: r.prefix }), text: `default${suffix}` }
            : {
                kind: 'interface',
                name: r.name,
                ...(r.prefix === undefined ? {} : { prefix: r.prefix }),
                text: `${r.name}${suffix}`,
              };
      return {
        overlay: network({ address: r.o, prefix: r.ov }),
        underlay,
        dhcp: r.dhcp || r.dhcpRange !== undefined,
        ...(r.dhcpRange === undefined ? {} : { dhcpRange: parseDhcpRange(r.dhcpRange) }),
        ...(r.bridge === undefined ? {} : { bridge: r.bridge }),
        hostReserve: r.hostReserve,
        type: r.type,
        enabled: r.enabled,
      };
    });

  it('parseFanWords(toFanWords(s)) deep-equals s (property)', () => {
    fc.assert(
      fc.property(specArb, (spec) => assert.deepEqual(parseFanWords(toFanWords(spec)), spec)),
      { numRuns: 500 },
    );
  });

  it('the old positional form parses to the same spec as the canonical words (property)', () => {
    fc.assert(
      fc.property(specArb, (spec) => {
        // A bare word that looks like an option or a flag is read as one: such names need the -u form.
        fc.pre(!/^-|^(dhcp|dhcp-range|off|bridge|type|host-reserve)$/.test(spec.underlay.text));
        const old = [formatCidr(spec.overlay), spec.underlay.text];
        if (spec.dhcp) old.push('dhcp');
        if (spec.dhcpRange !== undefined) old.push('dhcp-range', spec.dhcpRange.text);
        if (spec.hostReserve !== 1) old.push('host-reserve', String(spec.hostReserve));
        if (spec.bridge !== undefined) old.push('bridge', spec.bridge);
        if (spec.type !== 'vxlan') old.push('type', spec.type);
        if (!spec.enabled) old.push('off');
        assert.deepEqual(parseFanWords(old), spec);
      }),
      { numRuns: 300 },
    );
  });

  it('sanity: the generator produces all three underlay kinds, overlays are networks (host bits are refused)', () => {
    const samples = fc.sample(specArb, { numRuns: 300, seed: 7 });
    assert.deepEqual(new Set(samples.map((s) => s.underlay.kind)), new Set(['cidr', 'interface', 'default']));
    assert.ok(samples.every((s) => u32(s.overlay.address & hostMask(s.overlay.prefix)) === 0));
    assert.ok(samples.every((s) => u32(s.overlay.address & mask(s.overlay.prefix)) === s.overlay.address));
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCidr, parseIpv4 } from '../../core/address/ipv4.js';
import type { DhcpSpec, RouteSpec } from '../../core/model/host-state.js';
import { dnsmasqArgv } from './dnsmasq.js';
import {
  decodeForwardRules as decodeAll,
  forwardRules,
  iptablesArgv,
  renderForwardAcceptDel,
  splitRuleLine,
} from './iptables.js';

/** The policy and the accepts only (the rules one by one are checked through forwardDeletes). */
function decodeForwardRules(listing: string): {
  policyDrop: boolean;
  accepts: readonly { bridge: string; from: string }[];
} {
  const { policyDrop, accepts } = decodeAll(listing);
  return { policyDrop, accepts };
}

/** The -D argv that take fan's rules for `bridge` out of a listing. */
function forwardDeletes(listing: string, bridge: string): readonly string[][] {
  const rules = decodeAll(listing).rules.filter((r) => r.bridge === bridge);
  return renderForwardAcceptDel({ kind: 'forward-accept-del', bridge, rules }).map((c) =>
    c.apply.kind === 'run' ? [...c.apply.argv] : [],
  );
}
import { routeArgv } from './routes.js';

const VXLAN_ROUTE: RouteSpec = {
  dst: parseCidr('250.0.0.0/8'),
  dev: 'fan-vxlan',
  via: parseIpv4('169.254.250.1'),
  src: parseIpv4('250.3.4.1'),
  mtu: 1450,
};

describe('routeArgv', () => {
  it("replace: on-link via the placeholder, src, fan's proto, mtu", () => {
    assert.deepEqual(routeArgv('replace', VXLAN_ROUTE), [
      'ip',
      'route',
      'replace',
      '250.0.0.0/8',
      'via',
      '169.254.250.1',
      'dev',
      'fan-vxlan',
      'onlink',
      'src',
      '250.3.4.1',
      'proto',
      '250',
      'mtu',
      '1450',
    ]);
  });

  it('del: the same route without src and mtu', () => {
    assert.deepEqual(routeArgv('del', VXLAN_ROUTE), [
      'ip',
      'route',
      'del',
      '250.0.0.0/8',
      'via',
      '169.254.250.1',
      'dev',
      'fan-vxlan',
      'onlink',
      'proto',
      '250',
    ]);
  });

  it('a route without via, src or mtu (as read back)', () => {
    const plain: RouteSpec = { dst: parseCidr('250.0.0.0/8'), dev: 'eth0' };
    assert.deepEqual(routeArgv('replace', plain), [
      'ip',
      'route',
      'replace',
      '250.0.0.0/8',
      'dev',
      'eth0',
      'proto',
      '250',
    ]);
    assert.deepEqual(routeArgv('del', plain), ['ip', 'route', 'del', '250.0.0.0/8', 'dev', 'eth0', 'proto', '250']);
  });
});

describe('iptables FORWARD rules', () => {
  it('forwardRules: from the bridge, replies to it, overlay traffic into it; each with `fan BRIDGE`', () => {
    assert.deepEqual(forwardRules('fan-250', 'fan-vxlan'), [
      ['-i', 'fan-250', '-m', 'comment', '--comment', 'fan fan-250', '-j', 'ACCEPT'],
      [
        '-o',
        'fan-250',
        '-m',
        'conntrack',
        '--ctstate',
        'RELATED,ESTABLISHED',
        '-m',
        'comment',
        '--comment',
        'fan fan-250',
        '-j',
        'ACCEPT',
      ],
      ['-i', 'fan-vxlan', '-o', 'fan-250', '-m', 'comment', '--comment', 'fan fan-250', '-j', 'ACCEPT'],
    ]);
  });

  it('iptablesArgv waits for the xtables lock and targets the chain given', () => {
    assert.deepEqual(iptablesArgv('-I', 'FORWARD', ['-i', 'fan-250', '-j', 'ACCEPT']), [
      'iptables',
      '-w',
      '-I',
      'FORWARD',
      '-i',
      'fan-250',
      '-j',
      'ACCEPT',
    ]);
    assert.deepEqual(iptablesArgv('-D', 'DOCKER-USER', ['-i', 'fan-250', '-j', 'ACCEPT']), [
      'iptables',
      '-w',
      '-D',
      'DOCKER-USER',
      '-i',
      'fan-250',
      '-j',
      'ACCEPT',
    ]);
  });

  it('splitRuleLine keeps a quoted comment as one word, without the quotes', () => {
    assert.deepEqual(splitRuleLine('-A FORWARD -i fan-250 -m comment --comment "fan fan-250" -j ACCEPT'), [
      '-A',
      'FORWARD',
      '-i',
      'fan-250',
      '-m',
      'comment',
      '--comment',
      'fan fan-250',
      '-j',
      'ACCEPT',
    ]);
    assert.deepEqual(splitRuleLine('-P FORWARD DROP'), ['-P', 'FORWARD', 'DROP']);
    assert.deepEqual(splitRuleLine(''), []);
  });

  /** `iptables -S FORWARD` on a Docker host with fan-250 and fan-2500 (whose comment starts with `fan fan-250`). */
  const LISTING = [
    '-P FORWARD DROP',
    '-A FORWARD -j DOCKER-USER',
    '-A FORWARD -j DOCKER-ISOLATION-STAGE-1',
    '-A FORWARD -i fan-vxlan -o fan-250 -m comment --comment "fan fan-250" -j ACCEPT',
    '-A FORWARD -o fan-250 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "fan fan-250" -j ACCEPT',
    '-A FORWARD -i fan-250 -m comment --comment "fan fan-250" -j ACCEPT',
    '-A FORWARD -i fan-2500 -m comment --comment "fan fan-2500" -j ACCEPT',
    '-A FORWARD -i fan-250 -m comment --comment "fan fan-250 by hand" -j ACCEPT',
    '-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    '-A FORWARD -i docker0 ! -o docker0 -j ACCEPT',
    '',
  ].join('\n');

  it('forwardDeletes: only rules whose comment is exactly `fan BRIDGE`, as -D argv', () => {
    assert.deepEqual(forwardDeletes(LISTING, 'fan-250'), [
      [
        'iptables',
        '-w',
        '-D',
        'FORWARD',
        '-i',
        'fan-vxlan',
        '-o',
        'fan-250',
        '-m',
        'comment',
        '--comment',
        'fan fan-250',
        '-j',
        'ACCEPT',
      ],
      [
        'iptables',
        '-w',
        '-D',
        'FORWARD',
        '-o',
        'fan-250',
        '-m',
        'conntrack',
        '--ctstate',
        'RELATED,ESTABLISHED',
        '-m',
        'comment',
        '--comment',
        'fan fan-250',
        '-j',
        'ACCEPT',
      ],
      ['iptables', '-w', '-D', 'FORWARD', '-i', 'fan-250', '-m', 'comment', '--comment', 'fan fan-250', '-j', 'ACCEPT'],
    ]);
    assert.deepEqual(forwardDeletes(LISTING, 'fan-2500'), [
      [
        'iptables',
        '-w',
        '-D',
        'FORWARD',
        '-i',
        'fan-2500',
        '-m',
        'comment',
        '--comment',
        'fan fan-2500',
        '-j',
        'ACCEPT',
      ],
    ]);
    assert.deepEqual(forwardDeletes(LISTING, 'fan-25'), []);
    assert.deepEqual(forwardDeletes(LISTING, 'docker0'), []);
  });

  it('forwardDeletes round-trips the rules fan inserts', () => {
    for (const chain of ['FORWARD', 'DOCKER-USER'] as const) {
      const listing = forwardRules('fan-250', 'eth0')
        .map((rule) => iptablesArgv('-I', chain, rule).slice(3))
        .map((words) => ['-A', ...words].map((w) => (w.includes(' ') ? `"${w}"` : w)).join(' '))
        .join('\n');
      assert.deepEqual(
        forwardDeletes(listing, 'fan-250'),
        forwardRules('fan-250', 'eth0').map((rule) => iptablesArgv('-D', chain, rule)),
      );
    }
  });

  it("decodeForwardRules: the DROP policy, the bridges with fan's rules and the device they accept from", () => {
    assert.deepEqual(decodeForwardRules(LISTING), {
      policyDrop: true,
      accepts: [
        { bridge: 'fan-250', from: 'fan-vxlan' },
        { bridge: 'fan-2500', from: '' },
      ],
    });
    assert.deepEqual(
      decodeForwardRules('-P FORWARD ACCEPT\n-A FORWARD -i fan-250 -m comment --comment "fan fan-250" -j ACCEPT\n'),
      {
        policyDrop: false,
        accepts: [{ bridge: 'fan-250', from: '' }],
      },
    );
    assert.deepEqual(
      decodeForwardRules(
        '-N DOCKER-USER\n-A DOCKER-USER -i eth0 -o fan-250 -m comment --comment "fan fan-250" -j ACCEPT\n',
      ),
      {
        policyDrop: false,
        accepts: [{ bridge: 'fan-250', from: 'eth0' }],
      },
    );
    assert.deepEqual(decodeForwardRules('-P FORWARD ACCEPT\n'), { policyDrop: false, accepts: [] });
    assert.deepEqual(decodeForwardRules(''), { policyDrop: false, accepts: [] });
  });

  it('decodeForwardRules counts only comments that are exactly `fan BRIDGE`, as forwardDeletes does', () => {
    const listing = [
      '-P FORWARD DROP',
      '-A FORWARD -i x -m comment --comment "fanatic x" -j ACCEPT',
      '-A FORWARD -i y -m comment --comment "fan: y" -j ACCEPT',
      '-A FORWARD -i fan-7 -m comment --comment "fan fan-7 by hand" -j ACCEPT',
    ].join('\n');
    assert.deepEqual(decodeForwardRules(listing), { policyDrop: true, accepts: [] });
    assert.deepEqual(forwardDeletes(listing, 'fan-7'), []);
  });
});

describe('dnsmasqArgv', () => {
  it('DHCP only, on the bridge, with range, router and MTU', () => {
    const dhcp: DhcpSpec = {
      bridge: 'fan-250',
      rangeStart: parseIpv4('250.3.4.2'),
      rangeEnd: parseIpv4('250.3.4.254'),
      netmask: parseIpv4('255.255.255.0'),
      gateway: parseIpv4('250.3.4.1'),
      mtu: 1450,
      leaseFile: '/run/fan/fan-250.leases',
      pidFile: '/run/fan/fan-250.dnsmasq.pid',
    };
    assert.deepEqual(dnsmasqArgv(dhcp), [
      'dnsmasq',
      '--conf-file=/dev/null',
      '--pid-file=/run/fan/fan-250.dnsmasq.pid',
      '--dhcp-leasefile=/run/fan/fan-250.leases',
      '--interface=fan-250',
      '--bind-interfaces',
      '--except-interface=lo',
      '--port=0',
      '--user=root',
      '--dhcp-range=250.3.4.2,250.3.4.254,255.255.255.0,1h',
      '--dhcp-option=option:router,250.3.4.1',
      '--dhcp-option=option:mtu,1450',
      '--dhcp-authoritative',
      '--dhcp-no-override',
    ]);
  });
});

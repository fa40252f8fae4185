import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type Ipv4, parseCidr, parseIpv4, u32 } from '../address/ipv4.js';
import { ConfigError } from '../errors.js';
import { makePool, poolSize } from '../ipam/pool.js';
import { allocateAddress } from '../ipam/allocator.js';
import { countRules, renderPolicyReplace } from '../../codec/policy-nft.js';
import { type PolicyHost, compilePolicy, evaluateCompiled, policyHash } from './compile.js';
import { editPolicy } from './edit.js';
import { checkGeometry, checkPolicy, classify } from './evaluate.js';
import { groupPool, requestedGroup } from './group-pool.js';
import { type Policy } from './model.js';
import { PolicyError, parsePolicy } from './parse.js';

const ip = parseIpv4;

const EXAMPLE = `default: isolate            # isolate: between groups only what \`allow\` names passes
groups:
  web:   { index: 10-19 }   # container indexes inside every host's slice
  db:    { index: 20-29 }
  admin: { cidr: [172.30.255.0/24] }
allow:
  - { from: web, to: db, ports: [tcp/5432] }
  - { from: admin, to: web }
connect:
  - [250.0.27.15, 250.0.28.25]
disconnect:
  - [250.0.27.11, 250.0.28.12]
expose:
  - { port: tcp/8080, to: 250.0.27.11:80 }
`;

/** Host 172.16.0.27 of 250.0.0.0/8 over 172.16.0.0/16: slice 250.0.27.0/24. */
function hostOf(underlayHost: string, hostReserve = 1): PolicyHost {
  const h = ip(underlayHost);
  const slice = u32(ip('250.0.0.0') | ((h & 0xffff) << 8));
  return {
    fans: [
      {
        overlay: parseCidr('250.0.0.0/8'),
        slicePrefix: 24,
        hostReserve,
        bridge: 'fan-250',
        slice: { address: slice, prefix: 24 },
        underlayHost: h,
      },
    ],
  };
}

function policyError(fn: () => unknown): PolicyError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof PolicyError, `expected a PolicyError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a PolicyError');
}

describe('parsePolicy', () => {
  it('reads the example of the issue', () => {
    const p = parsePolicy(EXAMPLE, 'policy.yaml');
    assert.equal(p.default, 'isolate');
    assert.deepEqual(
      p.groups.map((g) => [g.name, g.kind, g.line]),
      [
        ['web', 'index', 3],
        ['db', 'index', 4],
        ['admin', 'cidr', 5],
      ],
    );
    assert.deepEqual(p.allow[0]?.ports, [{ proto: 'tcp', from: 5432, to: 5432 }]);
    assert.equal(p.allow[1]?.line, 8);
    assert.deepEqual(p.connect[0], { a: ip('250.0.27.15'), b: ip('250.0.28.25'), line: 10 });
    assert.deepEqual(p.expose[0], { proto: 'tcp', port: 8080, to: ip('250.0.27.11'), toPort: 80, line: 14 });
  });

  it('names file, line, field and fix for overlapping ranges', () => {
    const e = policyError(() => parsePolicy('groups:\n  web: { index: 10-19 }\n  db: { index: 15-25 }\n', 'p.yaml'));
    assert.match(
      e.message,
      /^p\.yaml:3: groups\.db\.index: indexes 15-25 of group db overlap 10-19 of group web \(line 2\)/,
    );
    assert.match(e.hint ?? '', /disjoint/);
  });

  it('reports an unknown group, a bad port and an unknown key at once, each with its line', () => {
    const e = policyError(() =>
      parsePolicy(
        'groups:\n  web: { index: 10-19 }\nallow:\n  - { from: web, to: dbx }\n  - { from: web, to: web, ports: [tcp/99999] }\n',
        'p.yaml',
      ),
    );
    assert.deepEqual(
      e.problems.map((p) => [p.line, p.field]),
      [
        [4, 'allow[0].to'],
        [5, 'allow[1].ports[0]'],
      ],
    );
    assert.match(e.message, /unknown group "dbx"/);
    assert.match(e.message, /tcp\/99999/);
    const k = policyError(() => parsePolicy('default: isolate\ngroupz: {}\n', 'p.yaml'));
    assert.match(k.message, /unknown key "groupz"/);
  });

  it('refuses bad YAML, a bad default, built-in names and groups with both index and cidr', () => {
    assert.match(policyError(() => parsePolicy('groups: [\n', 'p.yaml')).message, /^p\.yaml:\d+: \(yaml\)/);
    assert.match(policyError(() => parsePolicy('default: closed\n')).message, /default must be "isolate" or "open"/);
    assert.match(policyError(() => parsePolicy('groups:\n  outside: { index: 10-19 }\n')).message, /built-in/);
    assert.match(
      policyError(() => parsePolicy('groups:\n  x: { index: 10-19, cidr: 10.0.0.0/8 }\n')).message,
      /either "index" or "cidr"/,
    );
    assert.match(
      policyError(() => parsePolicy('groups:\n  a: { cidr: 10.0.0.0/8 }\n  b: { cidr: 10.1.0.0/16 }\n')).message,
      /overlaps 10\.0\.0\.0\/8/,
    );
    assert.match(
      policyError(() => parsePolicy('expose:\n  - { port: tcp/80-90, to: 250.0.0.2:80 }\n')).message,
      /single TCP or UDP port/,
    );
  });

  it('accepts an empty document as "isolate, nothing else"', () => {
    const p = parsePolicy('', 'p.yaml');
    assert.equal(p.default, 'isolate');
    assert.equal(p.groups.length, 0);
  });

  it('checks ranges against the slice geometry of this host', () => {
    const p = parsePolicy('groups:\n  big: { index: 200-300 }\n', 'p.yaml');
    assert.match(
      policyError(() => checkGeometry(p, hostOf('172.16.0.27'))).message,
      /^p\.yaml:2: groups\.big\.index: indexes 200-300 do not fit the \/24 slices/,
    );
    const r = parsePolicy('groups:\n  low: { index: 1-5 }\n', 'p.yaml');
    assert.match(policyError(() => checkGeometry(r, hostOf('172.16.0.27'))).message, /host reserve/);
    const c = parsePolicy('groups:\n  ops: { cidr: 250.1.0.0/16 }\n', 'p.yaml');
    assert.match(policyError(() => checkGeometry(c, hostOf('172.16.0.27'))).message, /overlaps overlay/);
  });
});

describe('groups by arithmetic', () => {
  const p = parsePolicy(EXAMPLE);
  const g = hostOf('172.16.0.27');
  it('gives the same group on every host: index = address - slice base', () => {
    for (const a of ['250.0.27.12', '250.9.200.12', '250.255.1.19'])
      assert.deepEqual(classify(p, g, ip(a)).kind === 'group' && classify(p, g, ip(a)), {
        kind: 'group',
        group: 'web',
        index: Number(a.split('.')[3]),
        overlay: parseCidr('250.0.0.0/8'),
      });
    assert.equal((classify(p, g, ip('250.3.3.25')) as { group: string }).group, 'db');
    assert.equal((classify(p, g, ip('250.3.3.30')) as { group: string }).group, 'ungrouped');
    assert.equal((classify(p, g, ip('172.30.255.9')) as { group: string }).group, 'admin');
    assert.equal((classify(p, g, ip('8.8.8.8')) as { group: string }).group, 'outside');
    assert.equal(classify(p, g, ip('250.7.7.1')).kind, 'host');
    assert.equal(classify(p, g, ip('250.7.7.255')).kind, 'host');
  });

  it('checks packets: within group, cross group, allow with port, connect, disconnect, host', () => {
    const c = (s: string, d: string, l4?: Parameters<typeof checkPolicy>[4]): string => {
      const r = checkPolicy(p, g, ip(s), ip(d), l4);
      return `${r.allowed ? 'allow' : 'deny'}: ${r.rule}`;
    };
    assert.equal(c('250.0.27.12', '250.0.28.13'), 'allow: within group web');
    assert.equal(c('250.0.27.12', '250.0.28.22'), 'deny: default isolate');
    assert.equal(c('250.0.27.12', '250.0.28.22', { proto: 'tcp', port: 5432 }), 'allow: allow web -> db tcp/5432');
    assert.equal(c('250.0.27.12', '250.0.28.22', { proto: 'tcp', port: 5433 }), 'deny: default isolate');
    assert.equal(c('250.0.27.12', '250.0.28.22', { proto: 'icmp' }), 'deny: default isolate');
    assert.equal(c('250.0.28.22', '250.0.27.12', { proto: 'tcp', port: 5432 }), 'deny: default isolate');
    assert.equal(c('250.0.28.25', '250.0.27.15'), 'allow: connect 250.0.27.15 250.0.28.25');
    assert.equal(c('250.0.28.12', '250.0.27.11'), 'deny: disconnect 250.0.27.11 250.0.28.12');
    assert.equal(c('172.30.255.4', '250.0.27.11'), 'allow: allow admin -> web');
    assert.equal(c('250.0.27.22', '250.0.28.1'), "allow: host address (the hosts' own addresses stay reachable)");
    assert.equal(checkPolicy(p, g, ip('250.0.27.12'), ip('250.0.28.13')).line, undefined);
    assert.equal(checkPolicy(p, g, ip('172.30.255.4'), ip('250.0.27.11')).line, 8);
  });

  it('default open lets everything pass except what deny names', () => {
    const o = parsePolicy(
      'default: open\ngroups:\n  web: { index: 10-19 }\n  db: { index: 20-29 }\ndeny:\n  - { from: web, to: db, ports: [udp/53] }\n',
    );
    assert.equal(checkPolicy(o, g, ip('250.0.1.10'), ip('250.0.2.20')).allowed, true);
    assert.equal(
      checkPolicy(o, g, ip('250.0.1.10'), ip('250.0.2.20'), { proto: 'udp', port: 53 }).rule,
      'deny web -> db udp/53',
    );
  });
});

const groupNamesArb = ['a', 'b', 'c', 'ops'];

/** Random valid policies over 250.0.0.0/8 with /24 slices (index groups a, b, c, CIDR group ops). */
const policyArb: fc.Arbitrary<Policy> = fc
  .record({
    isolate: fc.boolean(),
    cuts: fc.uniqueArray(fc.integer({ min: 2, max: 254 }), { minLength: 6, maxLength: 6 }),
    rules: fc.array(
      fc.record({
        deny: fc.boolean(),
        from: fc.constantFrom(...groupNamesArb, 'ungrouped', 'outside', 'any'),
        to: fc.constantFrom(...groupNamesArb, 'ungrouped', 'outside', 'any'),
        ports: fc.array(fc.constantFrom('tcp/80', 'tcp/5432', 'udp/53', 'icmp', 'tcp/1000-2000'), { maxLength: 2 }),
      }),
      { maxLength: 8 },
    ),
    pairs: fc.array(
      fc.record({ on: fc.boolean(), a: fc.integer({ min: 0, max: 3 }), b: fc.integer({ min: 0, max: 3 }) }),
      { maxLength: 4 },
    ),
  })
  .map((r) => {
    const c = [...r.cuts].sort((x, y) => x - y);
    const addr = ['250.0.1.12', '250.0.2.40', '250.1.3.12', '10.9.0.1'];
    const lines = [
      `default: ${r.isolate ? 'isolate' : 'open'}`,
      'groups:',
      `  a: { index: ${c[0]}-${c[1]} }`,
      `  b: { index: ${c[2]}-${c[3]} }`,
      `  c: { index: ${c[4]}-${c[5]} }`,
      '  ops: { cidr: [10.9.0.0/16] }',
      'allow:',
      ...r.rules
        .filter((x) => !x.deny)
        .map((x) => `  - { from: ${x.from}, to: ${x.to}${x.ports.length ? `, ports: [${x.ports.join(', ')}]` : ''} }`),
      'deny:',
      ...r.rules
        .filter((x) => x.deny)
        .map((x) => `  - { from: ${x.from}, to: ${x.to}${x.ports.length ? `, ports: [${x.ports.join(', ')}]` : ''} }`),
      'connect:',
      ...r.pairs.filter((x) => x.on).map((x) => `  - [${addr[x.a]}, ${addr[x.b]}]`),
      'disconnect:',
      ...r.pairs.filter((x) => !x.on).map((x) => `  - [${addr[x.a]}, ${addr[x.b]}]`),
    ];
    return parsePolicy(`${lines.join('\n')}\n`);
  });

const addressArb: fc.Arbitrary<Ipv4> = fc.oneof(
  fc
    .tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 255 }))
    .map(([s, i]) => u32(ip('250.0.0.0') + s * 256 + i)),
  fc.integer({ min: 0, max: 0xffff }).map((x) => u32(ip('10.9.0.0') + x)),
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.constantFrom(ip('250.0.1.12'), ip('250.0.2.40'), ip('250.1.3.12'), ip('10.9.0.1')),
);

const l4Arb = fc.oneof(
  fc.record({
    proto: fc.constantFrom('tcp' as const, 'udp' as const),
    port: fc.constantFrom(53, 80, 1500, 5432, 9999),
  }),
  fc.constant({ proto: 'icmp' as const }),
  fc.constant({ proto: 'other' as const }),
);

describe('compilePolicy', () => {
  it('the compiled nft structure gives the verdict of policy check, for random policies and packets', () => {
    const host = hostOf('172.16.0.27');
    fc.assert(
      fc.property(
        policyArb,
        fc.array(fc.tuple(addressArb, addressArb, l4Arb), { minLength: 20, maxLength: 20 }),
        (policy, packets) => {
          const compiled = compilePolicy(policy, host);
          for (const [s, d, l4] of packets) {
            const want = checkPolicy(policy, host, s, d, l4);
            const got = evaluateCompiled(compiled, {
              saddr: s,
              daddr: d,
              proto: l4.proto,
              ...('port' in l4 ? { dport: l4.port } : {}),
            });
            assert.equal(got.verdict, want.allowed ? 'accept' : 'drop', `${want.rule} vs ${got.chain}`);
            // The counted chain names the same rule as check.
            assert.ok(
              got.comment?.startsWith(want.rule.replace(/ \(.*$/, '').replace(/^within group .*/, 'within group')),
              `${got.comment ?? ''} / ${want.rule}`,
            );
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('has the same rule count on any host of a 3- or 100-host underlay, and binds no port itself', () => {
    const policy = parsePolicy(EXAMPLE);
    const counts = new Set<number>();
    for (const host of ['172.16.0.27', '172.16.0.3', '172.16.0.100', '172.16.99.1']) {
      counts.add(countRules(renderPolicyReplace(compilePolicy(policy, hostOf(host)))));
    }
    assert.equal(counts.size, 1, `rule counts: ${[...counts].join(', ')}`);
    // Port binding is table bridge fan-bind's, always on (src/codec/bind-nft.ts): the policy only removes its old table.
    assert.doesNotMatch(
      renderPolicyReplace(compilePolicy(policy, hostOf('172.16.0.27'))),
      /table bridge fan-policy \{/,
    );
  });

  it('gives the same hash on every host and a different one for a different policy', () => {
    const a = compilePolicy(parsePolicy(EXAMPLE, 'x.yaml'), hostOf('172.16.0.27'));
    const b = compilePolicy(parsePolicy(`# a comment\n${EXAMPLE}`, 'y.yaml'), hostOf('172.16.0.28'));
    assert.equal(a.hash, b.hash);
    assert.notEqual(policyHash(parsePolicy(EXAMPLE.replace('tcp/5432', 'tcp/5433'))), a.hash);
    assert.match(renderPolicyReplace(a), new RegExp(`comment "managed by fanctl policy; hash ${a.hash}"`));
  });

  it('DNATs only the exposed ports of containers on this host, to this host underlay address', () => {
    const here = renderPolicyReplace(compilePolicy(parsePolicy(EXAMPLE), hostOf('172.16.0.27')));
    assert.match(here, /elements = \{ 172\.16\.0\.27 \. tcp \. 8080 : 250\.0\.27\.11 \. 80 \}/);
    const there = renderPolicyReplace(compilePolicy(parsePolicy(EXAMPLE), hostOf('172.16.0.28')));
    assert.doesNotMatch(there, /: 250\.0\.27\.11 \. 80/);
  });

  it('renders one transaction that replaces the table and removes the bridge table of older versions', () => {
    const s = renderPolicyReplace(compilePolicy(parsePolicy(EXAMPLE), hostOf('172.16.0.27')));
    assert.ok(
      s.startsWith(
        'table ip fan-policy\ndelete table ip fan-policy\ntable bridge fan-policy\ndelete table bridge fan-policy\n',
      ),
    );
    assert.match(s, /ct state established,related counter accept/);
    assert.match(
      s,
      /ip daddr & 0\.0\.0\.255 vmap \{ 0\.0\.0\.0-0\.0\.0\.1 : jump v_host, 0\.0\.0\.2-0\.0\.0\.9 : jump v_default, 0\.0\.0\.10-0\.0\.0\.19 : jump v_within/,
    );
  });
});

describe('group pools', () => {
  const policy = parsePolicy(EXAMPLE);
  const pool = makePool({
    label: 'fan 250.0.0.0/8 (bridge fan-250)',
    slice: parseCidr('250.0.27.0/24'),
    hostReserve: 1,
  });
  it('allocates only inside the group range', () => {
    const web = groupPool(pool, policy, 'web');
    assert.equal(poolSize(web), 10);
    const taken = new Map<Ipv4, string>();
    for (let i = 0; i < 10; i++) {
      const a = allocateAddress({ pool: web, taken });
      assert.ok(a >= ip('250.0.27.10') && a <= ip('250.0.27.19'));
      taken.set(a, 'x');
    }
    assert.throws(() => allocateAddress({ pool: web, taken }), /group web/);
    assert.throws(
      () => allocateAddress({ pool: web, taken: new Map(), request: ip('250.0.27.25') }),
      /outside group web/,
    );
  });
  it('refuses unknown and CIDR groups and maps Kubernetes namespaces', () => {
    assert.throws(() => groupPool(pool, policy, 'nope'), ConfigError);
    assert.throws(() => groupPool(pool, policy, 'admin'), /CIDR group/);
    const p = parsePolicy(`${EXAMPLE}namespaces:\n  team-a: db\n`);
    assert.equal(requestedGroup(p, { k8sNamespace: 'team-a' }), 'db');
    assert.equal(requestedGroup(p, { k8sNamespace: 'web' }), 'web');
    assert.equal(requestedGroup(p, { k8sNamespace: 'other' }), undefined);
    assert.equal(requestedGroup(p, { group: 'db', k8sNamespace: 'web' }), 'db');
  });
});

describe('editPolicy', () => {
  it('creates and deletes groups, keeping comments', () => {
    let t = editPolicy(EXAMPLE, { kind: 'group-create', name: 'cache', index: '30-39' });
    assert.match(t, /# container indexes inside every host's slice/);
    assert.match(t, /cache: \{ index: 30-39 \}/);
    t = editPolicy(t, { kind: 'group-delete', name: 'web' });
    const p = parsePolicy(t);
    assert.deepEqual(
      p.groups.map((g) => g.name),
      ['db', 'admin', 'cache'],
    );
    assert.equal(p.allow.length, 0); // both rules named web
    assert.throws(() => editPolicy(EXAMPLE, { kind: 'group-create', name: 'x', index: '15-25' }), PolicyError);
  });
  it('allow/deny, connect/disconnect and expose rewrite the lists', () => {
    let t = editPolicy('', { kind: 'group-create', name: 'web', index: '10-19' });
    t = editPolicy(t, { kind: 'group-create', name: 'db', index: '20-29' });
    t = editPolicy(t, { kind: 'allow', from: 'web', to: 'db', ports: ['tcp/80'] });
    t = editPolicy(t, { kind: 'allow', from: 'web', to: 'db', ports: ['tcp/80'] });
    assert.equal(parsePolicy(t).allow.length, 1);
    t = editPolicy(t, { kind: 'deny', from: 'web', to: 'db', ports: ['tcp/80'] });
    assert.equal(parsePolicy(t).allow.length, 0);
    assert.equal(parsePolicy(t).deny.length, 0);
    t = editPolicy(t, { kind: 'deny', from: 'web', to: 'web', ports: [] });
    assert.equal(parsePolicy(t).deny.length, 1);
    t = editPolicy(t, { kind: 'connect', a: '250.0.1.12', b: '250.0.2.22' });
    t = editPolicy(t, { kind: 'disconnect', a: '250.0.2.22', b: '250.0.1.12' });
    const p = parsePolicy(t);
    assert.equal(p.connect.length, 0);
    assert.equal(p.disconnect.length, 1);
    t = editPolicy(t, { kind: 'expose', port: 'tcp/8080', to: '250.0.1.12:80' });
    assert.equal(parsePolicy(t).expose[0]?.port, 8080);
    assert.throws(() => editPolicy(t, { kind: 'allow', from: 'web', to: 'nope', ports: [] }), /unknown group "nope"/);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFanConfig } from '../core/config/fan-file.js';
import {
  PACKAGE_LAYOUT,
  renderAgentService,
  renderDefaultFanConfig,
  renderFanService,
  renderFanctlWrapper,
  serviceFiles,
  systemdWord,
} from './units.js';

/** `Key=value` lines of one section. */
function section(unit: string, name: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current = '';
  for (const line of unit.split('\n')) {
    const header = /^\[(.+)\]$/.exec(line);
    if (header) current = header[1] ?? '';
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (kv && current === name) out.set(kv[1] ?? '', [...(out.get(kv[1] ?? '') ?? []), kv[2] ?? '']);
  }
  return out;
}

describe('fan.service', () => {
  const unit = renderFanService(PACKAGE_LAYOUT);
  it('is a oneshot that stays active, after the network is online', () => {
    const s = section(unit, 'Service');
    assert.deepEqual(s.get('Type'), ['oneshot']);
    assert.deepEqual(s.get('RemainAfterExit'), ['yes']);
    assert.deepEqual(s.get('ExecStart'), ['/usr/bin/fanctl up -a -c /etc/network/fan']);
    assert.deepEqual(s.get('ExecStop'), ['/usr/bin/fanctl down -a -c /etc/network/fan']);
    const u = section(unit, 'Unit');
    assert.deepEqual(u.get('After'), ['network-online.target']);
    assert.deepEqual(u.get('Wants'), ['network-online.target']);
    assert.deepEqual(section(unit, 'Install').get('WantedBy'), ['multi-user.target']);
  });
});

describe('fan-agent.service', () => {
  it('runs fanctl agent after fan.service, with options from /etc/default/fan', () => {
    const unit = renderAgentService(PACKAGE_LAYOUT);
    const s = section(unit, 'Service');
    assert.deepEqual(s.get('ExecStart'), ['/usr/bin/fanctl agent $FAN_AGENT_OPTS']);
    assert.deepEqual(s.get('EnvironmentFile'), ['-/etc/default/fan']);
    assert.deepEqual(section(unit, 'Unit').get('After'), ['fan.service']);
  });
  it('quotes a checkout path with spaces for systemd', () => {
    const unit = renderAgentService({
      ...PACKAGE_LAYOUT,
      fanctl: ['/usr/bin/node', '/home/me/my fan/dist/src/bin/fanctl.js'],
    });
    assert.deepEqual(section(unit, 'Service').get('ExecStart'), [
      '/usr/bin/node "/home/me/my fan/dist/src/bin/fanctl.js" agent $FAN_AGENT_OPTS',
    ]);
  });
});

describe('systemdWord', () => {
  it('leaves plain words and quotes the rest, escaping $ and % specifiers', () => {
    assert.equal(systemdWord('/usr/bin/fanctl'), '/usr/bin/fanctl');
    assert.equal(systemdWord('a b'), '"a b"');
    assert.equal(systemdWord('x$y%z"'), '"x$$y%%z\\""');
  });
});

describe('the default /etc/network/fan', () => {
  it('has every line commented: no fan, no problem', () => {
    const text = renderDefaultFanConfig();
    assert.ok(text.split('\n').every((l) => l === '' || l.startsWith('#')));
    const parsed = parseFanConfig(text, '/etc/network/fan');
    assert.equal(parsed.fans.length, 0);
    assert.equal(parsed.problems.length, 0);
  });
  it('has examples that parse once uncommented', () => {
    const examples = renderDefaultFanConfig()
      .split('\n')
      .filter((l) => /^# (-o |\d)/.test(l))
      .map((l) => l.slice(2));
    assert.ok(examples.length >= 3);
    const parsed = parseFanConfig(examples.join('\n'), 'x');
    assert.deepEqual(parsed.problems, []);
    assert.equal(parsed.fans.length, examples.length);
  });
});

describe('serviceFiles and the wrapper', () => {
  it('lists the units in the unit dir and the config files kept when present', () => {
    assert.deepEqual(
      serviceFiles(PACKAGE_LAYOUT).map((f) => [f.path, f.keepExisting]),
      [
        ['/lib/systemd/system/fan.service', false],
        ['/lib/systemd/system/fan-agent.service', false],
        ['/etc/network/fan', true],
        ['/etc/default/fan', true],
      ],
    );
  });
  it('execs node on the entry point', () => {
    assert.match(
      renderFanctlWrapper({ node: '/usr/bin/node', entry: '/usr/lib/fan/dist/src/bin/fanctl.js' }),
      /^exec \/usr\/bin\/node \/usr\/lib\/fan\/dist\/src\/bin\/fanctl\.js "\$@"$/m,
    );
  });
});

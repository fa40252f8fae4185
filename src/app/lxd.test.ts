import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFanWords } from '../core/config/fan-spec.js';
import { resolveFans } from '../core/config/resolve.js';
import { typicalHost } from '../testing/builders.js';
import type { LxdProfileInfo, LxdProfiles } from '../ports/lxd.js';
import { disableLxd, enableLxd } from './lxd.js';

/** An in-memory LXD: profiles as `lxc profile list` would show them; `failEdit` makes the next edit fail. */
class FakeProfiles implements LxdProfiles {
  readonly profiles = new Map<string, LxdProfileInfo>();
  readonly log: string[] = [];
  failEdit = false;
  list(): Promise<LxdProfileInfo[]> {
    return Promise.resolve([...this.profiles.values()]);
  }
  create(name: string): Promise<void> {
    this.log.push(`create ${name}`);
    this.profiles.set(name, { name, description: '', config: {}, devices: {}, usedBy: [] });
    return Promise.resolve();
  }
  edit(name: string, yaml: string): Promise<void> {
    this.log.push(`edit ${name}`);
    if (this.failEdit) return Promise.reject(new Error('lxc profile edit failed'));
    // The fake reads back only what the printer writes: description and the eth0 device.
    const description = /^description: (".*")$/m.exec(yaml)?.[1];
    const device = Object.fromEntries(
      [...yaml.matchAll(/^ {4}(\w+): "?([^"\n]*)"?$/gm)].map((m) => [m[1] as string, m[2] as string]),
    );
    const old = this.profiles.get(name);
    if (!old) return Promise.reject(new Error('no such profile'));
    this.profiles.set(name, {
      ...old,
      description: description ? (JSON.parse(description) as string) : '',
      devices: { eth0: device },
    });
    return Promise.resolve();
  }
  delete(name: string): Promise<void> {
    this.log.push(`delete ${name}`);
    this.profiles.delete(name);
    return Promise.resolve();
  }
  removeFrom(instance: string, profile: string): Promise<void> {
    this.log.push(`remove ${instance} ${profile}`);
    const p = this.profiles.get(profile);
    if (p) this.profiles.set(profile, { ...p, usedBy: p.usedBy.filter((u) => !u.endsWith(`/${instance}`)) });
    return Promise.resolve();
  }
}

const view = () =>
  Promise.resolve({
    fans: resolveFans([parseFanWords('-o 250.0.0.0/8 -u 172.16.0.0/16 --dhcp'.split(' '))], typicalHost()),
    facts: typicalHost(),
  });

describe('fanctl lxd enable/disable (use cases)', () => {
  it('enable creates then edits; a second enable changes nothing', async () => {
    const profiles = new FakeProfiles();
    const first = await enableLxd({}, { fans: view, profiles });
    assert.equal(first.outcome, 'created');
    assert.deepEqual(profiles.log, ['create fan-250', 'edit fan-250']);
    const second = await enableLxd({}, { fans: view, profiles });
    assert.equal(second.outcome, 'unchanged');
    assert.deepEqual(profiles.log, ['create fan-250', 'edit fan-250']);
  });

  it('a failed edit deletes the profile the run created', async () => {
    const profiles = new FakeProfiles();
    profiles.failEdit = true;
    await assert.rejects(enableLxd({ profile: 'fanx' }, { fans: view, profiles }), /lxc profile edit failed/);
    assert.deepEqual(profiles.log, ['create fanx', 'edit fanx', 'delete fanx']);
    assert.equal(profiles.profiles.size, 0);
  });

  it('disable --force takes the profile off its instances, then deletes it; -o names it (fan down)', async () => {
    const profiles = new FakeProfiles();
    await enableLxd({}, { fans: view, profiles });
    const p = profiles.profiles.get('fan-250');
    assert.ok(p);
    profiles.profiles.set('fan-250', { ...p, usedBy: ['/1.0/instances/c1'] });
    await assert.rejects(disableLxd({}, { fans: view, profiles }), /is used by 1 instance\(s\): c1/);
    const down = () => Promise.resolve({ fans: [], facts: typicalHost() });
    const r = await disableLxd({ overlay: '250.0.0.0/8', force: true }, { fans: down, profiles });
    assert.deepEqual([r.outcome, r.detach], ['removed', ['c1']]);
    assert.deepEqual(profiles.log.slice(-2), ['remove c1 fan-250', 'delete fan-250']);
  });
});

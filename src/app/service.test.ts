import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { after, describe, it } from 'node:test';
import { LOCAL_UNIT_DIR, renderFanService, type ServiceLayout } from '../service/units.js';
import { installService } from './service.js';

const layout: ServiceLayout = {
  fanctl: ['/usr/bin/node', '/opt/fan/dist/src/bin/fanctl.js'],
  config: '/etc/network/fan',
  agentEnvironment: '/etc/default/fan',
  unitDir: LOCAL_UNIT_DIR,
  installedBy: 'test',
};

describe('installService', async () => {
  const root = await mkdtemp(`${tmpdir()}/fanpk-service-`);
  after(() => rm(root, { recursive: true, force: true }));

  it('writes the units, keeps an existing /etc/network/fan, and is idempotent', async () => {
    await mkdir(`${root}/etc/network`, { recursive: true });
    await writeFile(`${root}/etc/network/fan`, '-o 250.0.0.0/8 -u 10.0.0.0/16\n');
    const first = await installService(layout, root);
    assert.deepEqual(
      first.files.map((f) => [f.path, f.action]),
      [
        ['/etc/systemd/system/fan.service', 'written'],
        ['/etc/systemd/system/fan-agent.service', 'written'],
        ['/etc/network/fan', 'kept'],
        ['/etc/default/fan', 'written'],
      ],
    );
    assert.equal(await readFile(`${root}/etc/systemd/system/fan.service`, 'utf8'), renderFanService(layout));
    assert.equal(await readFile(`${root}/etc/network/fan`, 'utf8'), '-o 250.0.0.0/8 -u 10.0.0.0/16\n');
    assert.match(first.next.join(' '), new RegExp(`systemctl --root=${root} enable fan.service fan-agent.service`));
    const second = await installService(layout, root);
    assert.deepEqual(
      second.files.map((f) => f.action),
      ['unchanged', 'unchanged', 'kept', 'kept'],
    );
  });
});

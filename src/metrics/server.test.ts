import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../core/errors.js';
import { parseListen, serveMetrics } from './server.js';

describe('parseListen', () => {
  it('reads HOST:PORT, [IPv6]:PORT, :PORT and PORT', () => {
    assert.deepEqual(parseListen('127.0.0.1:9474'), { host: '127.0.0.1', port: 9474 });
    assert.deepEqual(parseListen('[::1]:9474'), { host: '::1', port: 9474 });
    assert.deepEqual(parseListen(':9474'), { host: '0.0.0.0', port: 9474 });
    assert.deepEqual(parseListen('9474'), { host: '0.0.0.0', port: 9474 });
  });
  it('refuses what is not an address and port', () => {
    for (const bad of ['127.0.0.1', 'host:99999', 'a:b:c', '']) assert.throws(() => parseListen(bad), ConfigError, bad);
  });
});

describe('serveMetrics', () => {
  it('serves fresh samples on /metrics, 500 when collecting fails, 404 elsewhere', async () => {
    let scrapes = 0;
    const server = await serveMetrics(
      { host: '127.0.0.1', port: 0 },
      async () => {
        scrapes++;
        if (scrapes === 2) throw new Error('nft went away');
        return { status: { fans: [], nftTable: scrapes > 1, forwardRules: [] }, ipam: [], dhcp: [] };
      },
      { log: () => {} },
    );
    try {
      const first = await fetch(server.url);
      assert.equal(first.status, 200);
      assert.match(await first.text(), /^fan_nftables_table_present 0$/m);
      const failed = await fetch(server.url);
      assert.equal(failed.status, 500);
      assert.match(await failed.text(), /nft went away/);
      assert.match(await (await fetch(server.url)).text(), /^fan_nftables_table_present 1$/m);
      assert.equal((await fetch(server.url.replace('/metrics', '/other'))).status, 404);
    } finally {
      await server.close();
    }
  });
});

import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { after, describe, it } from 'node:test';
import { StateError } from '../core/errors.js';
import { type CallRecord, serveDockerPlugin } from './server.js';

function post(socket: string, path: string, body: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: socket, path, method: 'POST', headers: { 'Content-Type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: text }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('Docker plugin server (unix socket)', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('answers calls over HTTP, replaces a stale socket, refuses a live one, removes the socket on close', async () => {
    const dir = await mkdtemp(`${tmpdir()}/fan-docker-`);
    dirs.push(dir);
    const socket = `${dir}/plugins/fan.sock`;
    const calls: CallRecord[] = [];
    const handlers = { '/Plugin.Activate': () => Promise.resolve({ Implements: ['NetworkDriver', 'IpamDriver'] }) };
    await serveDockerPlugin(`${dir}/stale.sock`, 0o660, handlers, () => {}).then((s) => s.close());
    await writeFile(`${dir}/stale.sock`, ''); // a file left by a plugin that died
    const stale = await serveDockerPlugin(`${dir}/stale.sock`, 0o660, handlers, () => {});
    await stale.close();

    const server = await serveDockerPlugin(socket, 0o660, handlers, (c) => void calls.push(c));
    const ok = await post(socket, '/Plugin.Activate', '');
    assert.deepEqual(
      { status: ok.status, body: JSON.parse(ok.body) as unknown },
      { status: 200, body: { Implements: ['NetworkDriver', 'IpamDriver'] } },
    );
    assert.equal(ok.type, 'application/vnd.docker.plugins.v1.2+json');
    const missing = await post(socket, '/NetworkDriver.Nope', '{}');
    assert.equal(missing.status, 404);
    assert.match((JSON.parse(missing.body) as { Err: string }).Err, /^fan: no handler for/);
    await assert.rejects(
      serveDockerPlugin(socket, 0o660, handlers, () => {}),
      (e: unknown) => e instanceof StateError && /another process serves/.test(e.message),
    );
    assert.deepEqual(
      calls.map((c) => [c.path, c.status]),
      [
        ['/Plugin.Activate', 200],
        ['/NetworkDriver.Nope', 404],
      ],
    );
    await server.close();
    assert.equal(existsSync(socket), false);
  });

  it('creates the socket with the mode it is given, whatever the umask (0660 under umask 000)', async () => {
    const dir = await mkdtemp(`${tmpdir()}/fan-docker-`);
    dirs.push(dir);
    const old = process.umask(0);
    try {
      const server = await serveDockerPlugin(`${dir}/mode.sock`, 0o660, {}, () => {});
      assert.equal((statSync(`${dir}/mode.sock`).mode & 0o777).toString(8), '660');
      await server.close();
      const open = await serveDockerPlugin(`${dir}/open.sock`, 0o666, {}, () => {});
      assert.equal(
        (statSync(`${dir}/open.sock`).mode & 0o777).toString(8),
        '666',
        '--socket-mode widens it on purpose',
      );
      await open.close();
    } finally {
      process.umask(old);
    }
  });
});

/**
 * The forwarding path end to end without root: a test agent on a unix socket in a temp dir, and the two
 * forwarders (the Node entry dist/src/bin/fan-cni.js and the C binary build/bin/fan-cni-forward, when built)
 * run as processes the way a runtime runs the plugin. VERSION needs no kernel, so the in-process fallback runs too.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { type AgentServer, serveAgent } from './server.js';
import { forwardCall } from './client.js';
import { configureForwarder } from '../cni/install.js';
import { readFile } from 'node:fs/promises';

const NODE_ENTRY = fileURLToPath(new URL('../bin/fan-cni.js', import.meta.url));
const C_FORWARDER = fileURLToPath(new URL('../../../build/bin/fan-cni-forward', import.meta.url));
const CONF = '{"cniVersion":"0.4.0","name":"n","type":"fan"}';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(argv: readonly string[], env: Record<string, string>, input = CONF): Promise<Run> {
  return new Promise((resolve) => {
    const [file, ...args] = argv;
    const child = spawn(file ?? '', args, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const cBuilt = await access(C_FORWARDER).then(
  () => true,
  () => false,
);

describe('CNI forwarding to the agent', () => {
  let dir: string;
  let agent: AgentServer | undefined;
  const seen: { env: Record<string, string>; stdin: string }[] = [];

  before(async () => {
    dir = await mkdtemp(`${tmpdir()}/fanag-fwd-`);
  });
  after(async () => {
    await agent?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const startAgent = async (): Promise<void> => {
    agent = await serveAgent(`${dir}/agent.sock`, (req) => {
      seen.push({ env: { ...req.env }, stdin: req.stdin });
      return Promise.resolve({
        exitCode: 3,
        stdout: `agent saw ${req.env.CNI_COMMAND} with ${req.stdin.length} bytes\n`,
        stderr: 'agent stderr\n',
      });
    });
  };

  it('the agent socket is root-only (0600) and a second agent on it is refused', async () => {
    await startAgent();
    assert.equal((await stat(`${dir}/agent.sock`)).mode & 0o777, 0o600);
    await assert.rejects(
      serveAgent(`${dir}/agent.sock`, () => Promise.reject(new Error('unused'))),
      /another process serves/,
    );
  });

  const forwarders: [string, string[]][] = [['Node entry', [process.execPath, NODE_ENTRY]]];
  if (cBuilt) forwarders.push(['C forwarder', [C_FORWARDER]]);

  for (const [name, argv] of forwarders) {
    it(`${name}: passes CNI_* and stdin to the agent and returns its stdout, stderr and exit code`, async () => {
      seen.length = 0;
      const out = await run(argv, {
        FAN_STATE_DIR: dir,
        CNI_COMMAND: 'ADD',
        CNI_CONTAINERID: 'c1',
        CNI_IFNAME: 'eth0',
        SECRET: 'not forwarded',
      });
      assert.equal(out.code, 3, out.stderr);
      assert.equal(out.stdout, `agent saw ADD with ${CONF.length} bytes\n`);
      assert.equal(out.stderr, 'agent stderr\n');
      assert.deepEqual(seen, [{ env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0' }, stdin: CONF }]);
    });
  }

  it('the stopped agent removes its socket; with no agent the Node entry runs the call itself', async () => {
    await agent?.close();
    agent = undefined;
    await assert.rejects(access(`${dir}/agent.sock`));
    const out = await run([process.execPath, NODE_ENTRY], { FAN_STATE_DIR: dir, CNI_COMMAND: 'VERSION' });
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(JSON.parse(out.stdout), { cniVersion: '1.1.0', supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] });
  });

  it('a stale socket file (its agent died) counts as no agent', async () => {
    await writeFile(`${dir}/agent.sock`, '');
    assert.equal((await forwardCall(`${dir}/agent.sock`, { env: {}, stdin: '' })).kind, 'absent');
    const out = await run([process.execPath, NODE_ENTRY], { FAN_STATE_DIR: dir, CNI_COMMAND: 'VERSION' });
    assert.equal(out.code, 0, out.stderr);
    await rm(`${dir}/agent.sock`);
  });

  it(`an agent that accepts the call and vanishes gives CNI error 11 in the config's version, \
never a fallback`, async () => {
    const socket = `${dir}/broken.sock`;
    const server = createServer((conn) => conn.once('data', () => conn.destroy()));
    await new Promise<void>((resolve) => server.listen(socket, () => resolve()));
    try {
      const outcome = await forwardCall(socket, { env: { CNI_COMMAND: 'ADD' }, stdin: CONF });
      assert.equal(outcome.kind, 'broken');
      for (const [, argv] of forwarders) {
        const out = await run(argv, { FAN_AGENT_SOCKET: socket, CNI_COMMAND: 'ADD' });
        assert.equal(out.code, 1);
        const doc = JSON.parse(out.stdout) as { cniVersion: string; code: number; msg: string };
        assert.equal(doc.code, 11);
        assert.equal(doc.cniVersion, '0.4.0');
        assert.match(doc.msg, /closed the connection before answering/);
      }
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it(
    'C forwarder: falls back to the command it was given (or installed with), else fails with error 11',
    { skip: !cBuilt && 'build/bin/fan-cni-forward is not built (no clang)' },
    async () => {
      const env = { FAN_STATE_DIR: dir, CNI_COMMAND: 'VERSION' };
      const given = await run([C_FORWARDER, process.execPath, NODE_ENTRY], env);
      assert.equal(given.code, 0, given.stderr);
      assert.equal(JSON.parse(given.stdout).cniVersion, '1.1.0');
      const none = await run([C_FORWARDER], env);
      assert.equal(none.code, 1);
      assert.equal((JSON.parse(none.stdout) as { code: number }).code, 11);
      assert.match(none.stdout, /no fan agent at .*agent\.sock/);
      // Installed: the settings written into the binary give the fallback and the default state dir.
      const installed = `${dir}/fan`;
      await writeFile(
        installed,
        configureForwarder(await readFile(C_FORWARDER), { node: process.execPath, entry: NODE_ENTRY, stateDir: dir }),
        { mode: 0o755 },
      );
      const byConfig = await run([installed], { CNI_COMMAND: 'VERSION' });
      assert.equal(byConfig.code, 0, byConfig.stderr);
      await startAgent();
      seen.length = 0;
      const forwarded = await run([installed], { CNI_COMMAND: 'DEL' });
      assert.equal(forwarded.code, 3, 'FAN_STATE_DIR:= from the settings points at the agent');
      assert.equal(seen.length, 1);
    },
  );
});

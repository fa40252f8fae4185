/**
 * The benchmark suite works: `fanctl lab bench --quick` (the CI mode) runs every section in its own labs
 * (`fnspq…`), prints the tables, writes valid JSON with a row per path and per backend of the registry, the
 * control-plane and CNI sections and every target, and an SVG that parses. Figures are not judged: a loaded
 * machine makes them what it makes them; only their presence and sanity are checked.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ALL_BACKENDS } from '../../src/backends/registry.js';
import type { BenchReport } from '../../src/lab/bench/model.js';
import { FANCTL, labDown, labNamespaces } from '../../src/lab/lab.js';
import { root } from '../../src/lab/shell.js';
import { measureDockerConnect, renderDockerConnect } from '../bench/docker-connect.js';
import { sweepLabDocker } from '../lab/docker.js';

const NAME = 'fnspq';
const LABS = [`${NAME}1500`, `${NAME}u24`, `${NAME}c`, `${NAME}d`];

describe('fanctl lab bench --quick', { timeout: 900_000 }, () => {
  const dir = mkdtemp(join(tmpdir(), 'fnsp-bench-'));
  after(async () => {
    for (const lab of LABS) await labDown(lab);
    await rm(await dir, { recursive: true, force: true });
  });

  it('measures every row and section, writes JSON and SVG, and leaves nothing behind', async () => {
    const out = join(await dir, 'bench.json');
    const svg = join(await dir, 'bench.svg');
    const run = await root.run(
      [process.execPath, FANCTL, 'lab', 'bench', '--quick', '--name', NAME, '--json', out, '--svg', svg],
      { allowFailure: true, timeoutMs: 840_000 },
    );
    assert.equal(run.exitCode, 0, run.stderr.slice(-2000));
    for (const heading of ['== data plane', '== control plane', '== container attach (CNI)', '== targets'])
      assert.ok(run.stdout.includes(heading), `${heading} missing from the output`);

    const report = JSON.parse(await readFile(out, 'utf8')) as BenchReport;
    assert.equal(report.version, 1);
    assert.deepEqual(
      report.backends,
      ALL_BACKENDS.map((b) => b.type),
    );
    const kinds = report.paths.map((p) => `${p.kind}:${p.backend ?? ''}`);
    for (const type of ALL_BACKENDS.map((b) => b.type))
      assert.ok(kinds.includes(`backend:${type}`), `no row for the ${type} backend: ${kinds.join(', ')}`);
    for (const kind of ['underlay:', 'reference:', 'same-host:vxlan', 'policy:vxlan', 'policy-ab:vxlan'])
      assert.ok(kinds.includes(kind), `no ${kind} row: ${kinds.join(', ')}`);
    for (const p of report.paths) {
      for (const s of ['1', '4']) assert.ok((p.streams[s]?.gbit.median ?? 0) > 0, `${p.label}: no ${s}-stream figure`);
      assert.ok((p.rtt?.ms.median ?? 0) > 0, `${p.label}: no RTT`);
    }
    const [control] = report.control;
    assert.equal(control?.underlayPrefix, 24);
    assert.ok((control?.fanObjects ?? 0) > 0 && (control?.fanUpConvergedMs.median ?? 0) > 0);
    assert.ok((control?.referenceObjects ?? 0) >= 4 * 253, 'the reference holds 4 objects per peer');
    assert.ok(report.cni && report.cni.targets.length === 3);
    const ids = report.targets.map((t) => t.id);
    for (const id of [
      'vxlan-single-1500',
      'vxlan-vs-reference',
      'host-gw-single',
      'rtt',
      'policy',
      'cni-add-p50',
      'up-converged',
    ])
      assert.ok(ids.includes(id), `target ${id} missing`);
    assert.ok(
      report.targets
        .filter((t) => t.id !== 'vxlan-single-9000' && t.id !== 'objects')
        .every((t) => t.value !== undefined),
    );

    const text = await readFile(svg, 'utf8');
    assert.match(text, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>/);
    assert.ok(text.trimEnd().endsWith('</svg>'));
    const opened = (text.match(/<(?!\/)[a-z]+[^>]*[^/]>/g) ?? []).length;
    const closed = (text.match(/<\/[a-z]+>/g) ?? []).length;
    assert.equal(opened, closed, 'every element of the SVG is closed');

    for (const lab of LABS) assert.deepEqual(await labNamespaces(lab), [], `lab ${lab} left namespaces`);
  });
  it(`the Docker row: connect and disconnect through fan's driver and Docker's bridge driver, \
nothing left`, async () => {
    const r = await measureDockerConnect({ name: `${NAME}d`, samples: 2 });
    assert.deepEqual(
      r.rows.map((row) => row.driver),
      ['fan', 'bridge'],
    );
    for (const row of r.rows)
      for (const f of [row.connectMs, row.disconnectMs]) assert.ok(f.p50 > 0 && f.p95 >= f.p50, JSON.stringify(row));
    assert.ok(r.ratio.connect > 0 && r.ratio.disconnect > 0);
    assert.match(renderDockerConnect(r), /fan \/ bridge driver \(p50\): connect \d+\.\d\d×/);
    assert.deepEqual(await labNamespaces(`${NAME}d`), []);
    assert.deepEqual(await sweepLabDocker(`${NAME}d`), [], 'dockerd left nothing to sweep');
  });
});

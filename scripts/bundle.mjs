// Bundles the two entry points (fanctl, the fan CNI plugin) with esbuild, after tsc, in place in dist/src/bin/:
// Node 20 has no compile cache for ES modules (module.enableCompileCache is Node 22), and resolving and reading
// ~170 module files cost fanctl about 0.25 s of every call. Code loaded with import() becomes chunks beside the
// entries, at the same depth, so paths computed from import.meta.url (the package root, fanctl.js) stay right.
// Every other file of dist/ stays as tsc wrote it (the tests import those). Without esbuild (a production
// install without dev dependencies) the entries stay unbundled and work the same, only slower to start.
import { readdirSync, readFileSync, rmSync, renameSync, mkdtempSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const BIN = 'dist/src/bin';
const ENTRIES = ['fanctl.js', 'fan-cni.js'];
const CHUNK = /^chunk-[A-Z0-9]+\.js(\.map)?$/;
// Bundled CommonJS dependencies (yaml, cli-table3) call require() for Node's modules: the banner gives them one.
const BANNER =
  "import { createRequire as __fanRequire } from 'node:module'; const require = __fanRequire(import.meta.url);";

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  console.warn('bundle: esbuild is not installed (npm ci installs it); the entry points stay unbundled');
  process.exit(0);
}
for (const entry of ENTRIES) {
  if (!existsSync(join(BIN, entry))) {
    console.error(`bundle: ${join(BIN, entry)} is missing: run tsc first`);
    process.exit(1);
  }
}
// A second run over its own output would bundle the bundle (and declare the banner's require twice).
if (ENTRIES.some((e) => readFileSync(join(BIN, e), 'utf8').includes(BANNER))) {
  console.log('bundle: the entry points are bundled already (tsc rewrites them; run npm run build)');
  process.exit(0);
}
mkdirSync('build', { recursive: true }); // a fresh clone has none yet
const out = mkdtempSync('build/bundle-');
try {
  await esbuild.build({
    entryPoints: ENTRIES.map((e) => join(BIN, e)),
    outdir: out,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    chunkNames: 'chunk-[hash]',
    // Dependencies are bundled too (resolving and reading yaml's, zod's and cli-table3's files cost every call
    // about 80 ms), except etcd3, loaded only by the etcd commands: it and gRPC read their proto files through
    // __dirname, which a bundle would move away from them.
    external: ['etcd3'],
    banner: { js: BANNER },
    logLevel: 'warning',
    legalComments: 'none',
    minifyWhitespace: true,
    minifySyntax: true,
  });
  for (const old of readdirSync(BIN).filter((f) => CHUNK.test(f))) rmSync(join(BIN, old));
  for (const file of readdirSync(out)) renameSync(join(out, file), join(BIN, file));
  for (const entry of ENTRIES) rmSync(join(BIN, `${entry}.map`), { force: true }); // tsc's, now wrong
  console.log(
    `bundle: ${ENTRIES.map((e) => join(BIN, e)).join(', ')} ` +
      `(+ ${readdirSync(BIN).filter((f) => CHUNK.test(f)).length} chunks)`,
  );
} finally {
  rmSync(out, { recursive: true, force: true });
}

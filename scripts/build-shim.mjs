// Compiles shim/fan-cni-forward.c into build/bin/fan-cni-forward with clang when clang is installed: the CNI
// forwarder `fanctl cni install` puts in front of the agent. Without it the installed plugin is the Node entry.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';

let clang = true;
try {
  execFileSync('clang', ['--version'], { stdio: 'ignore' });
} catch {
  clang = false;
}
if (!clang) {
  console.warn(
    'build-shim: clang not found; skipping the C CNI forwarder (install clang); fan-cni.js forwards instead',
  );
  process.exit(0);
}
if (!existsSync('shim/fan-cni-forward.c')) process.exit(0);
mkdirSync('build/bin', { recursive: true });
const out = 'build/bin/fan-cni-forward';
execFileSync(
  'clang',
  ['-O2', '-Wall', '-Wextra', '-Werror', '-std=c11', '-D_GNU_SOURCE', 'shim/fan-cni-forward.c', '-o', out],
  { stdio: 'inherit' },
);
console.log(`build-shim: ${out}`);

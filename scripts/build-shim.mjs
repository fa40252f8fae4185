// Compiles the C helpers in shim/ into build/bin/ with clang when clang is installed:
// - fan-cni-forward: the CNI forwarder `fanctl cni install` puts in front of the agent (without it the installed
//   plugin is the Node entry);
// - fan-exec: starts the kernel tools for fan's Node processes without forking them (without it they spawn).
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
    'build-shim: clang not found; skipping the C helpers (install clang): fan-cni.js forwards, Node spawns the tools',
  );
  process.exit(0);
}
mkdirSync('build/bin', { recursive: true });
for (const name of ['fan-cni-forward', 'fan-exec']) {
  const source = `shim/${name}.c`;
  if (!existsSync(source)) continue;
  const out = `build/bin/${name}`;
  execFileSync('clang', ['-O2', '-Wall', '-Wextra', '-Werror', '-std=c11', '-D_GNU_SOURCE', source, '-o', out], {
    stdio: 'inherit',
  });
  console.log(`build-shim: ${out}`);
}

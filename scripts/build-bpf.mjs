// Compiles bpf/*.bpf.c into build/bpf/*.o with clang when clang is installed; fan's data plane loads them.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, existsSync } from 'node:fs';

const sources = existsSync('bpf') ? readdirSync('bpf').filter((f) => f.endsWith('.bpf.c')) : [];
let clang = true;
try {
  execFileSync('clang', ['--version'], { stdio: 'ignore' });
} catch {
  clang = false;
}
if (!clang) {
  console.warn('build-bpf: clang not found; skipping the eBPF data plane (install clang llvm libbpf-dev)');
  process.exit(0);
}
mkdirSync('build/bpf', { recursive: true });
for (const source of sources) {
  const out = `build/bpf/${source.replace(/\.c$/, '.o')}`;
  execFileSync('clang', ['-O2', '-g', '-Wall', '-Werror', '-target', 'bpf', '-I/usr/include/x86_64-linux-gnu', '-c', `bpf/${source}`, '-o', out], { stdio: 'inherit' });
  console.log(`build-bpf: ${out}`);
}

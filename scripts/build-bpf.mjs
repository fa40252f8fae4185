// Compiles bpf/*.bpf.c into build/bpf/*.o with clang; fan's data plane loads them. Fails loudly when clang or the
// kernel headers are missing: a fanctl without its eBPF object cannot bring a fan up.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';

const sources = existsSync('bpf') ? readdirSync('bpf').filter((f) => f.endsWith('.bpf.c')) : [];

function run(file, args) {
  return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

try {
  run('clang', ['--version']);
} catch {
  console.error('build-bpf: clang is not installed: apt-get install clang llvm libbpf-dev (or run ./setup.sh)');
  process.exit(1);
}

// <asm/types.h> and friends live in the multiarch directory of the build machine (x86_64-linux-gnu,
// aarch64-linux-gnu, …): ask the C compiler for it instead of assuming one.
let multiarch = '';
try {
  multiarch = run('gcc', ['-print-multiarch']);
} catch {
  multiarch = run('clang', ['-print-target-triple'])
    .replace(/-unknown-/, '-')
    .replace(/^(\w+)-pc-/, '$1-');
}
const include = `/usr/include/${multiarch}`;
if (!existsSync(`${include}/asm/types.h`)) {
  console.error(`build-bpf: ${include}/asm/types.h is missing: apt-get install linux-libc-dev libbpf-dev`);
  process.exit(1);
}

mkdirSync('build/bpf', { recursive: true });
for (const source of sources) {
  const out = `build/bpf/${source.replace(/\.c$/, '.o')}`;
  const args = ['-O2', '-g', '-Wall', '-Werror', '-target', 'bpf', `-I${include}`, '-c', `bpf/${source}`, '-o', out];
  execFileSync('clang', args, { stdio: 'inherit' });
  console.log(`build-bpf: ${out}`);
}

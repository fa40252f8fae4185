import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PrerequisiteError } from '../core/errors.js';
import type { CommandRunner, RunResult } from '../ports/runner.js';
import { probeHost, requireHost } from './probes.js';

const dir = await mkdtemp(join(tmpdir(), 'fan-probes-'));
after(() => rm(dir, { recursive: true, force: true }));
const elf = join(dir, 'fan.bpf.o');
await writeFile(elf, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]));
const text = join(dir, 'not-elf.o');
await writeFile(text, 'hello');

/** A runner where the commands whose joined argv starts with one of `failing` exit 1. */
function runner(failing: readonly string[]): CommandRunner {
  return {
    run: async (argv): Promise<RunResult> => ({
      stdout: '',
      stderr: '',
      exitCode: failing.some((f) => argv.join(' ').startsWith(f)) ? 1 : 0,
    }),
  };
}

describe('probeHost', () => {
  it('finds nothing missing on a complete host', async () => {
    assert.deepEqual(await probeHost(runner([]), { bpfObject: elf, dhcp: true }), []);
  });

  it('names every missing piece with its fix, in one run', async () => {
    const missing = await probeHost(runner(['tc', 'bpftool version', 'nft --version', 'bpftool -j prog', 'dnsmasq']), {
      bpfObject: join(dir, 'absent.o'),
      dhcp: true,
    });
    assert.deepEqual(missing, [
      'tc is not installed: apt-get install iproute2',
      'bpftool is not installed: apt-get install bpftool',
      'nft is not installed: apt-get install nftables',
      'the BPF syscall is not available (kernel without CONFIG_BPF_SYSCALL, or not root)',
      `eBPF object ${join(dir, 'absent.o')} is missing: ` +
        `install clang llvm libbpf-dev and run npm run build (or set FAN_BPF_OBJECT)`,
      'dnsmasq is not installed (needed by dhcp): apt-get install dnsmasq-base',
    ]);
  });

  it('tells an unusable nftables from a missing one, and a non-ELF object from a missing one', async () => {
    const missing = await probeHost(runner(['nft list']), { bpfObject: text, dhcp: false });
    assert.deepEqual(missing, [
      'nftables is not usable here (kernel without nf_tables, or not root)',
      `${text} is not an ELF object: rebuild with npm run build`,
    ]);
  });

  it('asks for dnsmasq only when a fan serves DHCP', async () => {
    assert.deepEqual(await probeHost(runner(['dnsmasq']), { bpfObject: elf, dhcp: false }), []);
  });

  it('requireHost throws one PrerequisiteError listing them and saying nothing changed', async () => {
    await assert.rejects(requireHost(runner(['bpftool']), { bpfObject: elf, dhcp: false }), (error: unknown) => {
      assert.ok(error instanceof PrerequisiteError);
      assert.match(error.message, /^this host cannot run fan yet:\n {2}- bpftool is not installed/);
      assert.equal(error.hint, 'install or enable the pieces listed above; nothing was changed');
      return true;
    });
  });
});

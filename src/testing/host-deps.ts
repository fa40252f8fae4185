/** Test-only: the state directory and HostDeps of a simulated host (FakeKernel) for the app layer's unit tests. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostDeps } from '../app/host.js';
import { Dataplane } from '../kernel/dataplane.js';
import { IpHostReader } from '../kernel/host-reader.js';
import type { FakeKernel } from './fake-kernel.js';

export interface FakeStateDir {
  readonly dir: string;
  /** A file that starts like an ELF object, where fanctl looks for the eBPF object. */
  readonly elf: string;
}

export async function fakeStateDir(prefix: string): Promise<FakeStateDir> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const elf = join(dir, 'fan.bpf.o');
  await writeFile(elf, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]));
  return { dir, elf };
}

export function fakeHostDeps(kernel: FakeKernel, { dir, elf }: FakeStateDir): HostDeps {
  return {
    runner: kernel,
    host: new IpHostReader(kernel),
    files: kernel,
    dataplane: new Dataplane(kernel, { bpfObject: elf, stateDir: dir }, kernel),
    paths: { stateDir: dir, bpfObject: elf, packageRoot: '' },
    log: () => {},
  };
}

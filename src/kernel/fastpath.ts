/**
 * The switch of the vxlan-fast programs (bpf/vxlan-fast.c): each program's fan_fp_ctl map holds 1 (fast path on)
 * or 0 (every packet takes the kernel path). A freshly attached program reads 0, so the fast path only runs once
 * fanctl has looked: it is on exactly when no isolation policy (nftables table `ip fan-policy`) is loaded, since
 * the fast path skips the forward hook the policy filters in. See docs/fast-path.md.
 */
import { z } from 'zod';
import { POLICY_TABLE } from '../codec/policy-nft.js';
import type { CommandRunner } from '../ports/runner.js';

export const FAST_CTL_MAP = 'fan_fp_ctl';
/** The tc attachment names of the fast path's programs (`fan.bpf.o:[tc/fp_tx]`). */
const FAST_SECTION = /\[tc\/fp_/;

const netShow = z.array(
  z
    .object({ tc: z.array(z.object({ name: z.string().optional(), id: z.number() }).passthrough()).optional() })
    .passthrough(),
);
const progList = z.array(z.object({ id: z.number(), map_ids: z.array(z.number()).optional() }).passthrough());
const mapList = z.array(z.object({ id: z.number(), name: z.string().optional() }).passthrough());
const parse = <T>(schema: z.ZodType<T>, text: string): T => schema.parse(JSON.parse(text.trim() === '' ? '[]' : text));

/** The fan_fp_ctl maps of every fast-path program attached in this namespace. */
export async function fastPathSwitches(runner: CommandRunner): Promise<number[]> {
  const net = await runner.run(['bpftool', '-j', 'net', 'show'], { allowFailure: true });
  if (net.exitCode !== 0) return [];
  const ids = new Set(
    parse(netShow, net.stdout)
      .flatMap((e) => e.tc ?? [])
      .filter((t) => FAST_SECTION.test(t.name ?? ''))
      .map((t) => t.id),
  );
  if (ids.size === 0) return [];
  const [progs, maps] = await Promise.all([
    runner.run(['bpftool', '-j', 'prog', 'show']),
    runner.run(['bpftool', '-j', 'map', 'show']),
  ]);
  const ctl = new Set(
    parse(mapList, maps.stdout)
      .filter((m) => m.name === FAST_CTL_MAP)
      .map((m) => m.id),
  );
  return [
    ...new Set(
      parse(progList, progs.stdout)
        .filter((p) => ids.has(p.id))
        .flatMap((p) => (p.map_ids ?? []).filter((m) => ctl.has(m))),
    ),
  ];
}

/** One `bpftool batch` line setting the switch in map `id`. */
export function switchLine(id: number, on: boolean): string {
  return `map update id ${id} key hex 00 00 00 00 value hex 0${on ? 1 : 0} 00 00 00`;
}

export async function setFastPath(runner: CommandRunner, on: boolean): Promise<void> {
  const ids = await fastPathSwitches(runner);
  if (ids.length === 0) return;
  const lines = ids.map((id) => switchLine(id, on));
  await runner.run(['bpftool', 'batch', 'file', '-'], { input: `${lines.join('\n')}\n` });
}

export async function policyLoaded(runner: CommandRunner): Promise<boolean> {
  return (await runner.run(['nft', 'list', 'table', 'ip', POLICY_TABLE], { allowFailure: true })).exitCode === 0;
}

/** On when no isolation policy is loaded, off otherwise. Called after fan attaches programs or loads a policy. */
export async function syncFastPath(runner: CommandRunner): Promise<void> {
  if ((await fastPathSwitches(runner)).length === 0) return;
  await setFastPath(runner, !(await policyLoaded(runner)));
}

/**
 * Runs a change of the policy tables with the fast path off (it skips the forward hook the policy filters in),
 * then switches it back on only if no policy is loaded afterwards, also when the change failed.
 */
export async function withFastPathOff<T>(runner: CommandRunner, change: () => Promise<T>): Promise<T> {
  await setFastPath(runner, false);
  try {
    return await change();
  } finally {
    await syncFastPath(runner);
  }
}

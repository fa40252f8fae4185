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

/** The ids of maps named `mapName` used by tc programs attached here whose attachment name matches `section`. */
async function mapsOfAttached(runner: CommandRunner, section: RegExp, mapName: string): Promise<number[]> {
  const net = await runner.run(['bpftool', '-j', 'net', 'show'], { allowFailure: true });
  if (net.exitCode !== 0) return [];
  const ids = new Set(
    parse(netShow, net.stdout)
      .flatMap((e) => e.tc ?? [])
      .filter((t) => section.test(t.name ?? ''))
      .map((t) => t.id),
  );
  if (ids.size === 0) return [];
  const [progs, maps] = await Promise.all([
    runner.run(['bpftool', '-j', 'prog', 'show']),
    runner.run(['bpftool', '-j', 'map', 'show']),
  ]);
  const named = new Set(
    parse(mapList, maps.stdout)
      .filter((m) => m.name === mapName)
      .map((m) => m.id),
  );
  return [
    ...new Set(
      parse(progList, progs.stdout)
        .filter((p) => ids.has(p.id))
        .flatMap((p) => (p.map_ids ?? []).filter((m) => named.has(m))),
    ),
  ];
}

/** The fan_fp_ctl maps of every fast-path program attached in this namespace. */
export function fastPathSwitches(runner: CommandRunner): Promise<number[]> {
  return mapsOfAttached(runner, FAST_SECTION, FAST_CTL_MAP);
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

export const FAST_PEERS_MAP = 'fan_fp_peers';

const le32 = (n: number): string[] => [0, 8, 16, 24].map((s) => ((n >>> s) & 0xff).toString(16).padStart(2, '0'));
const linkShow = z.array(z.object({ ifindex: z.number() }).passthrough());

/**
 * The fan_fp_peers maps of the fast paths' programs in this namespace (none: no fast-path fan here). The receiving
 * programs deliver through it; the transmitting ones check a container port's binding against it.
 */
function peerMaps(runner: CommandRunner): Promise<number[]> {
  return mapsOfAttached(runner, FAST_SECTION, FAST_PEERS_MAP);
}

/**
 * Binds a fresh container port (no clsact yet) to its bridge's tc shared block, so the bridge's transmitting
 * program runs on it too. One `tc` process; a failure leaves the port on the bridge path.
 */
async function joinPortBlock(runner: CommandRunner, hostIf: string, block: number): Promise<void> {
  const argv = ['tc', 'qdisc', 'add', 'dev', hostIf, 'ingress_block', String(block >>> 0), 'clsact'];
  await runner.run(argv, { allowFailure: true }).catch(() => undefined);
}

/** A container's port as the fast path knows it: host veth, container MAC, and the bridge's block to join. */
export interface FastPathPort {
  readonly hostIf: string;
  readonly mac: string;
  readonly block?: number;
  /** The host veth's ifindex when the caller has it (printed by its creation): saves asking `ip` for it. */
  readonly ifindex?: number;
  /**
   * What the map ids found for this call may be kept with (the agent passes its current fan view's fan): the next
   * call with the same object writes to the same maps without listing programs and maps again. A new fan view
   * (fanctl up changed the fans) starts afresh, and a write that fails (a program re-attached) lists again.
   */
  readonly scope?: object;
}

/**
 * The peer maps found per scope (see FastPathPort.scope), kept as the listing itself: concurrent attaches of one
 * scope (a burst of CNI ADDs) share one listing instead of running one each.
 */
const peerMapsOf = new WeakMap<object, Promise<number[]>>();

/** Drops `listing` from `scope` unless a newer one replaced it meanwhile. */
function forget(scope: object, listing: Promise<number[]>): void {
  if (peerMapsOf.get(scope) === listing) peerMapsOf.delete(scope);
}

/** The `bpftool batch` line for one entry of the peer map: set (with host veth ifindex and MAC) or delete. */
export function peerLine(mapId: number, address: number, to?: { ifindex: number; mac: string }): string {
  const key = ['key', 'hex', ...le32(address)];
  if (to === undefined) return ['map', 'delete', 'id', String(mapId), ...key].join(' ');
  const mac = to.mac.split(':').map((b) => b.padStart(2, '0'));
  if (mac.length !== 6) throw new Error(`not a MAC address: ${to.mac}`);
  return ['map', 'update', 'id', String(mapId), ...key, 'value', 'hex', ...le32(to.ifindex), ...mac, '00', '00'].join(
    ' ',
  );
}

/**
 * THE one place that keeps the fast path's per-container state: the accelerator map (address → the container's
 * host veth and MAC: delivery straight into the container, and the port binding the transmitting program checks)
 * and the port's place in the bridge's tc shared block. Attach paths call it with the host veth, the container's
 * MAC and the block, detach paths with none (the port's qdisc goes with the veth). Best effort by design: a missing
 * or stale entry only means the bridge's slower path (the programs check ifindex and MAC), so a failure here never
 * fails an attach. Without a fast-path fan on the host this costs one `bpftool net show`.
 */
export async function fastPathPeer(runner: CommandRunner, address: number, to?: FastPathPort): Promise<void> {
  const joined = to?.block !== undefined ? joinPortBlock(runner, to.hostIf, to.block) : Promise.resolve();
  const scope = to?.scope;
  const kept = scope !== undefined ? peerMapsOf.get(scope) : undefined;
  const listing = kept ?? peerMaps(runner);
  if (scope !== undefined && kept === undefined) peerMapsOf.set(scope, listing);
  try {
    const maps = await listing;
    if (maps.length === 0) {
      if (scope !== undefined) forget(scope, listing); // a fast-path program may be attached later
      return;
    }
    let value: { ifindex: number; mac: string } | undefined;
    if (to !== undefined) {
      const ifindex =
        to.ifindex ??
        parse(linkShow, (await runner.run(['ip', '-j', 'link', 'show', 'dev', to.hostIf])).stdout)[0]?.ifindex;
      if (ifindex === undefined) return;
      value = { ifindex, mac: to.mac };
    }
    const write = (ids: readonly number[]) =>
      runner.run(['bpftool', 'batch', 'file', '-'], {
        input: `${ids.map((id) => peerLine(id, address, value)).join('\n')}\n`,
        allowFailure: true,
      });
    const out = await write(maps);
    if (scope === undefined || out.exitCode === 0) return;
    forget(scope, listing);
    if (kept !== undefined) {
      // A map of the kept list is gone: the programs were attached again since. List afresh, once.
      const fresh = peerMaps(runner);
      peerMapsOf.set(scope, fresh);
      const ids = await fresh;
      if (ids.length === 0 || (await write(ids)).exitCode !== 0) forget(scope, fresh);
    }
  } catch {
    // An accelerator only: the fast path delivers without it.
    if (scope !== undefined) forget(scope, listing);
  }
  await joined;
}

/**
 * Port binding, always on (not only with an isolation policy): the record in the state directory and table
 * `bridge fan-bind` change together (the record under its lock). The attach paths bind a port before its veth can
 * pass a frame and unbind it after the veth is gone; `fanctl up` rebuilds the table from the record (`reconcileBindings`), and `down` of the
 * last fan removes it.
 */
import { formatIpv4, parseIpv4 } from '../core/address/ipv4.js';
import type { Fan } from '../core/config/resolve.js';
import { ConfigError, FanError } from '../core/errors.js';
import {
  type BindTableSpec,
  type PortBinding,
  normalizeMac,
  reservedRanges,
  withBinding,
} from '../core/bind/binding.js';
import { contentKey } from '../core/plan/diff.js';
import { BIND_RULES, isBindContent, renderBindDiff, renderBindRemove, renderBindReplace } from '../codec/bind-nft.js';
import { changeBindElements, loadBindScript, readBindTable } from '../kernel/bind-table.js';
import { readNftCounters } from '../kernel/nft-rule-counters.js';
import type { PortBinder } from '../ports/bindings.js';
import type { HostReader } from '../ports/host.js';
import type { InterfaceFacts } from '../core/model/host-facts.js';
import type { CommandRunner } from '../ports/runner.js';
import { PortBindingStore, type StoredPortBinding } from '../store/port-bindings.js';

/** A binding whose port is not on a fan bridge is kept this long: its veth may be about to be created. */
export const BINDING_GRACE_MS = 120_000;

const toStored = (b: PortBinding, since: string): StoredPortBinding => ({
  port: b.port,
  mac: b.mac,
  addresses: b.addresses.map(formatIpv4),
  since,
});
const fromStored = (s: StoredPortBinding): PortBinding => ({
  port: s.port,
  mac: s.mac,
  addresses: s.addresses.map(parseIpv4),
});

function checked(b: PortBinding): PortBinding {
  const mac = normalizeMac(b.mac);
  if (mac === undefined || b.addresses.length === 0 || !/^[^\s"\\]{1,15}$/.test(b.port)) {
    throw new ConfigError(
      `cannot bind port ${JSON.stringify(b.port)} to MAC ` +
        `${JSON.stringify(b.mac)} and ${b.addresses.length} address(es)`,
      'give an interface name (at most 15 bytes), a unicast MAC xx:xx:xx:xx:xx:xx and at least one address',
    );
  }
  return { ...b, mac };
}

type BindingOp = { readonly bind: PortBinding } | { readonly unbind: string };

/** The bindings after `ops` in order (a bind replaces every binding it clashes with): the pure part of a cycle. */
export function applyBindingOps(initial: readonly PortBinding[], ops: readonly BindingOp[]): PortBinding[] {
  let list = [...initial];
  for (const op of ops) {
    list = 'bind' in op ? withBinding(list, op.bind).list : list.filter((b) => b.port !== op.unbind);
  }
  return list;
}

interface Pending {
  readonly op: BindingOp;
  readonly done: (error?: unknown) => void;
}

/**
 * The record and the table change in cycles: the calls that arrive while a cycle runs are done together in the
 * next one (one lock, one read, two writes and at most one nft run for all of them), so an agent serving many
 * concurrent ADDs does not queue them on the lock one by one. A one-shot process makes one cycle of one call.
 * Crash order: the record first holds the bindings before and after (so the table never holds an unrecorded
 * element), then the table changes, then the record is cut to the bindings after.
 */
export class NftPortBinder implements PortBinder {
  private readonly store: PortBindingStore;
  private pending: Pending[] = [];
  private running: Promise<void> | undefined;

  constructor(
    private readonly runner: CommandRunner,
    stateDir: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.store = new PortBindingStore(stateDir);
  }

  bind(binding: PortBinding): Promise<void> {
    const next = checked(binding); // refused before it joins a cycle
    return this.enqueue({ bind: next });
  }

  unbind(port: string): Promise<void> {
    return this.enqueue({ unbind: port });
  }

  async list(): Promise<PortBinding[]> {
    return (await this.store.read()).map(fromStored);
  }

  private enqueue(op: BindingOp): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ op, done: (error) => (error === undefined ? resolve() : reject(error)) });
      this.running ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.cycle(batch.map((p) => p.op));
        for (const p of batch) p.done();
      } catch (error) {
        for (const p of batch) p.done(error);
      }
    }
    this.running = undefined;
  }

  private async cycle(ops: readonly BindingOp[]): Promise<void> {
    const unbinds = ops.flatMap((op) => ('unbind' in op ? [op.unbind] : []));
    if (unbinds.length === ops.length) return this.unbindCycle(unbinds);
    // The lock covers the record only: nft runs outside it, so concurrent processes (one-shot CNI plugins) do not
    // queue behind one another's nft start-up. The record holds the bindings before and after while the table
    // changes, so the table never holds an unrecorded element, whatever runs or crashes meanwhile.
    const change = await this.store.locked(async () => {
      const stored = await this.store.read();
      const before = stored.map(fromStored);
      const after = applyBindingOps(before, ops);
      const since = new Map(stored.map((s) => [s.port, s.since]));
      const stamp = this.now().toISOString();
      const record = (list: readonly PortBinding[]): StoredPortBinding[] =>
        list.map((b) => {
          const old = since.get(b.port);
          const same = before.some((x) => x.port === b.port && sameBinding(x, b));
          return toStored(b, same && old !== undefined ? old : stamp);
        });
      const { remove, add } = renderBindDiff(before, after);
      if (remove.length === 0 && add.length === 0) {
        if (JSON.stringify(record(after)) !== JSON.stringify(stored)) await this.store.write(record(after));
        return undefined;
      }
      const gone = before.filter((b) => !after.some((a) => a.port === b.port));
      await this.store.write(record([...gone, ...after]));
      return { remove, add, gone };
    });
    if (change === undefined) return;
    await changeBindElements(this.runner, change.remove, change.add);
    if (change.gone.length === 0) return;
    await this.cut(change.gone);
  }

  /**
   * Unbinding only removes: the table loses the elements first, then the record its entries, so the lock is taken
   * once (a burst of one-shot DELs queued twice as long on it otherwise). The record is read without the lock:
   * it is only ever replaced whole, by rename.
   */
  private async unbindCycle(ports: readonly string[]): Promise<void> {
    const before = (await this.store.read()).map(fromStored);
    const gone = before.filter((b) => ports.includes(b.port));
    if (gone.length === 0) return;
    const { remove } = renderBindDiff(
      before,
      before.filter((b) => !ports.includes(b.port)),
    );
    await changeBindElements(this.runner, remove, []);
    await this.cut(gone);
  }

  /** Drops from the record exactly the bindings a cycle removed, unless they were bound again meanwhile. */
  private async cut(gone: readonly PortBinding[]): Promise<void> {
    await this.store.locked(async () => {
      const stored = await this.store.read();
      const left = stored.filter((s) => !gone.some((g) => g.port === s.port && sameBinding(g, fromStored(s))));
      if (left.length !== stored.length) await this.store.write(left);
    });
  }
}

const sameBinding = (a: PortBinding, b: PortBinding): boolean =>
  a.mac === b.mac && a.addresses.length === b.addresses.length && a.addresses.every((x, i) => b.addresses[i] === x);

export interface ReconcileDeps {
  readonly runner: CommandRunner;
  readonly host: HostReader;
  readonly stateDir: string;
  readonly now?: () => Date;
  /** The host's links as the caller just read them (`fanctl up` has): saves reading them again. */
  readonly interfaces?: readonly InterfaceFacts[];
}

export function bindTableSpec(fans: readonly Fan[], bindings: readonly PortBinding[]): BindTableSpec {
  return { reserved: reservedRanges(fans), bindings };
}

/** The key covers the rules and the reserved ranges; the elements are compared on their own. */
export const bindKey = (spec: BindTableSpec): string => contentKey({ rules: BIND_RULES, reserved: spec.reserved });

/**
 * For `fanctl up` and `down`: the table as the record says, for the fans now up. Records of ports no longer on a
 * fan bridge (a DEL that crashed after deleting the veth) are dropped once past the grace period. Returns the
 * change, for `up`'s report, or nothing when the table already held exactly that.
 */
export async function reconcileBindings(deps: ReconcileDeps, fans: readonly Fan[]): Promise<string[]> {
  const store = new PortBindingStore(deps.stateDir);
  const now = (deps.now ?? (() => new Date()))().getTime();
  return store.locked(async () => {
    const table = await readBindTable(deps.runner);
    if (table.present && table.key === undefined) {
      throw new FanError(
        'an nftables table "bridge fan-bind" exists that fan did not create; fan will not replace it',
        'inspect it with nft list table bridge fan-bind and remove or rename it',
      );
    }
    if (fans.length === 0) {
      if (!table.present) return [];
      await loadBindScript(deps.runner, renderBindRemove());
      return ['delete nftables table bridge fan-bind'];
    }
    const bridges = new Set(fans.map((f) => f.bridge));
    const ports = new Set(
      (deps.interfaces ?? (await deps.host.readFacts()).interfaces)
        .filter((i) => i.master !== undefined && bridges.has(i.master))
        .map((i) => i.name),
    );
    const stored = await store.read();
    const live = stored.filter((s) => ports.has(s.port) || now - Date.parse(s.since) < BINDING_GRACE_MS);
    if (live.length !== stored.length) await store.write(live);
    const spec = bindTableSpec(fans, live.map(fromStored));
    const key = bindKey(spec);
    if (table.key === key && table.content && isBindContent(table.content, spec.bindings)) return [];
    await loadBindScript(deps.runner, renderBindReplace(spec, key));
    return [`load nftables table bridge fan-bind (${spec.bindings.length} bound port(s))`];
  });
}

/** Drops of each anti-spoofing layer, for `fanctl status`. */
export async function antiSpoofingDrops(
  runner: CommandRunner,
): Promise<{ binding: number; forward: number; input: number }> {
  const sum = (list: readonly { rule: string; packets: number }[], re: RegExp): number =>
    list.filter((c) => re.test(c.rule)).reduce((n, c) => n + c.packets, 0);
  const main = (await readNftCounters(runner)) ?? [];
  return {
    binding: sum(await bindCounters(runner), /./),
    forward: sum(main, /^anti-spoofing on |\(forwarded\)$/),
    input: sum(main, /^anti-spoofing into the host |\(to this host\)$/),
  };
}

/** The drop counters of the binding table, by rule comment (empty when the table is not there). */
export async function bindCounters(
  runner: CommandRunner,
): Promise<readonly { readonly rule: string; readonly packets: number; readonly bytes: number }[]> {
  return (await readBindTable(runner)).content?.counters ?? [];
}

/**
 * Port binding, always on (not only with an isolation policy): the record in the state directory and table
 * `bridge fan-bind` change together under one lock. The attach paths bind a port before its veth exists and unbind
 * it after the veth is gone; `fanctl up` rebuilds the table from the record (`reconcileBindings`), and `down` of the
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
      `cannot bind port ${JSON.stringify(b.port)} to MAC ${JSON.stringify(b.mac)} and ${b.addresses.length} address(es)`,
      'give an interface name (at most 15 bytes), a unicast MAC xx:xx:xx:xx:xx:xx and at least one address',
    );
  }
  return { ...b, mac };
}

export class NftPortBinder implements PortBinder {
  private readonly store: PortBindingStore;

  constructor(
    private readonly runner: CommandRunner,
    stateDir: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.store = new PortBindingStore(stateDir);
  }

  async bind(binding: PortBinding): Promise<void> {
    const next = checked(binding);
    await this.store.locked(async () => {
      const stored = await this.store.read();
      const { replaced } = withBinding(stored.map(fromStored), next);
      const keep = stored.filter((s) => !replaced.some((r) => r.port === s.port));
      // Recorded first: a crash between the two leaves a record that `up` loads, never an unrecorded element.
      await this.store.write([...keep, toStored(next, this.now().toISOString())]);
      const { remove, add } = renderBindDiff(replaced, [next]);
      await changeBindElements(this.runner, remove, add);
    });
  }

  async unbind(port: string): Promise<void> {
    await this.store.locked(async () => {
      const stored = await this.store.read();
      const gone = stored.filter((s) => s.port === port);
      if (gone.length === 0) return;
      const { remove } = renderBindDiff(gone.map(fromStored), []);
      await changeBindElements(this.runner, remove, []);
      await this.store.write(stored.filter((s) => s.port !== port));
    });
  }

  async list(): Promise<PortBinding[]> {
    return (await this.store.read()).map(fromStored);
  }
}

export interface ReconcileDeps {
  readonly runner: CommandRunner;
  readonly host: HostReader;
  readonly stateDir: string;
  readonly now?: () => Date;
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
      (await deps.host.readFacts()).interfaces
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

/**
 * Port bindings (the policy's anti-spoofing set: which addresses each bridge port was given) for a long-running
 * process serving many concurrent attach calls (the agent). Called one by one, every ADD and DEL takes the bindings
 * lock, reads and rewrites the file and, with a policy applied, runs nft: 200 concurrent ADDs then queue on the
 * lock's polling. Here the calls that arrive while a cycle runs are done together in the next one: one lock, one
 * read, one write, and at most one nft run per direction for all of them. Same file, lock and nft set as
 * `bindPort`/`unbindPort` in policy.ts, so both kinds of callers can share a host.
 */
import { type Ipv4, formatIpv4, parseIpv4 } from '../core/address/ipv4.js';
import { renderBindingChange } from '../codec/policy-nft.js';
import { changeBindings } from '../kernel/policy-tables.js';
import { PolicyStateStore } from '../store/policy-state.js';
import type { BindingDeps } from './policy.js';

type BindingOp =
  | { readonly kind: 'bind'; readonly port: string; readonly address: string }
  | { readonly kind: 'unbind'; readonly port: string };

interface Pending {
  readonly op: BindingOp;
  readonly resolve: () => void;
  readonly reject: (reason: unknown) => void;
}

interface StoredBinding {
  readonly port: string;
  readonly address: string;
}

const key = (b: StoredBinding): string => `${b.port}\0${b.address}`;

/** The bindings after `ops` in order, and what changed: the pure part of a cycle. */
export function applyBindingOps(
  initial: readonly StoredBinding[],
  ops: readonly BindingOp[],
): { list: StoredBinding[]; added: StoredBinding[]; removed: StoredBinding[]; changed: boolean } {
  let list = [...initial];
  const bound = new Set<string>();
  for (const op of ops) {
    if (op.kind === 'bind') {
      const b = { port: op.port, address: op.address };
      list = [...list.filter((x) => key(x) !== key(b)), b];
      bound.add(key(b));
    } else {
      list = list.filter((x) => x.port !== op.port);
      for (const k of [...bound]) if (k.startsWith(`${op.port}\0`)) bound.delete(k);
    }
  }
  const finalKeys = new Set(list.map(key));
  const initialKeys = new Set(initial.map(key));
  const removed = initial.filter((b) => !finalKeys.has(key(b)));
  // Every binding asked for is added to the live set again (adding what is there succeeds), as bindPort does.
  const added = list.filter((b) => bound.has(key(b)));
  const changed = removed.length > 0 || list.some((b) => !initialKeys.has(key(b))) || list.length !== initial.length;
  return { list, added, removed, changed };
}

export function batchedBindings(deps: BindingDeps): {
  bindPort: (port: string, address: Ipv4) => Promise<void>;
  unbindPort: (port: string) => Promise<void>;
} {
  const store = new PolicyStateStore(deps.stateDir);
  let pending: Pending[] = [];
  let running: Promise<void> | undefined;

  const cycle = async (batch: readonly Pending[]): Promise<void> => {
    await store.withBindingsLock(async () => {
      const initial = await store.readBindings();
      const { list, added, removed, changed } = applyBindingOps(
        initial,
        batch.map((p) => p.op),
      );
      if (changed) await store.writeBindings(list);
      // No policy applied: no table to update (apply builds the set from the file).
      if ((added.length > 0 || removed.length > 0) && (await store.readRecord()) !== undefined) {
        const parsed = (bs: readonly StoredBinding[]) =>
          bs.map((b) => ({ port: b.port, address: parseIpv4(b.address) }));
        await changeBindings(deps.runner, renderBindingChange('delete', parsed(removed)), 'delete');
        await changeBindings(deps.runner, renderBindingChange('add', parsed(added)), 'add');
      }
    });
  };

  const drain = async (): Promise<void> => {
    while (pending.length > 0) {
      const batch = pending;
      pending = [];
      try {
        await cycle(batch);
        for (const p of batch) p.resolve();
      } catch (error) {
        for (const p of batch) p.reject(error);
      }
    }
    running = undefined;
  };

  const submit = (op: BindingOp): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      pending.push({ op, resolve, reject });
      running ??= drain();
    });

  return {
    bindPort: (port, address) => submit({ kind: 'bind', port, address: formatIpv4(address) }),
    unbindPort: (port) => submit({ kind: 'unbind', port }),
  };
}

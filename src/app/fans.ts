/**
 * The fans configured on this host, resolved, with the host snapshot they were resolved against: what CNI and
 * Docker attach containers to. Read from the fans file and `ip address`/`ip route` alone: a CNI ADD runs once
 * per container, often hundreds at once, and must not spend its time listing nftables, iptables and BPF programs
 * it does not use. Fan's own links are recognised by their alias, as in host.ts.
 */
import type { Fan } from '../core/config/resolve.js';
import { resolveFans } from '../core/config/resolve.js';
import { parseFanWords } from '../core/config/fan-spec.js';
import type { HostFacts } from '../core/model/host-facts.js';
import { isFanOwned } from '../core/model/host-state.js';
import type { HostReader } from '../ports/host.js';
import { FanStateStore } from '../store/fan-state.js';

export interface FanView {
  /** Fans brought up with fanctl on this host, in table order (the first is the default). */
  readonly fans: readonly Fan[];
  readonly facts: HostFacts;
}

export async function readFanView(deps: { readonly host: HostReader; readonly stateDir: string }): Promise<FanView> {
  const [records, facts] = await Promise.all([new FanStateStore(deps.stateDir).read(), deps.host.readFacts()]);
  const owned = new Set(facts.interfaces.filter(isFanOwned).map((i) => i.name));
  // A fan whose underlay address has gone keeps what it resolved to: the other fans still attach containers.
  const fans = resolveFans(
    records.map((r) => parseFanWords(r.words)),
    facts,
    owned,
    records.map((r) => r.resolved),
  );
  return { fans, facts };
}

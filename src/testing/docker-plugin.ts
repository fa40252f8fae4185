/**
 * Test support for the Docker plugin's unit tests: the handlers over fakes (veths, memory IPAM, a recorded port
 * table) with a fresh handler table per call, as after a plugin restart. Not used by production code.
 */
import { FakeBinder } from './port-binder.js';
import type { DockerDeps } from '../app/docker.js';
import type { Ipv4 } from '../core/address/ipv4.js';
import type { PublishedEndpoint } from '../core/attach/published-ports.js';
import { parseFanWords } from '../core/config/fan-spec.js';
import { type Fan, resolveFans } from '../core/config/resolve.js';
import { poolOf } from '../core/ipam/pool.js';
import type { HostFacts, InterfaceFacts } from '../core/model/host-facts.js';
import { hostFacts, iface, typicalHost } from './builders.js';
import type { LeaseStore } from '../ports/leases.js';
import type { PortTable, PublishedPortsRecord } from '../ports/published-ports.js';
import type { HostVeths, VethPairRequest } from '../ports/sandbox.js';
import type { NetworkGroups } from '../ports/docker-networks.js';
import { MemoryLeaseStore } from '../store/memory-leases.js';
import { dispatchDockerCall } from '../docker/dispatcher.js';
import { fanDockerPlugin } from '../docker/plugin.js';

export class FakePorts implements PublishedPortsRecord, PortTable {
  entries: readonly PublishedEndpoint[] = [];
  /** Every table loaded, in order. */
  readonly applied: (readonly PublishedEndpoint[])[] = [];

  list(): Promise<readonly PublishedEndpoint[]> {
    return Promise.resolve(this.entries);
  }

  async update(
    change: (entries: readonly PublishedEndpoint[]) => Promise<readonly PublishedEndpoint[]>,
  ): Promise<readonly PublishedEndpoint[]> {
    this.entries = await change(this.entries);
    return this.entries;
  }

  apply(entries: readonly PublishedEndpoint[]): Promise<void> {
    this.applied.push(entries);
    return Promise.resolve();
  }
}

/** The host's links as the driver sees them: veth pairs created in this namespace. */
export class FakeVeths implements HostVeths {
  readonly links = new Map<string, InterfaceFacts>();
  private readonly peers = new Map<string, string>();
  private mac = 0;

  createVethPair(req: VethPairRequest): Promise<{ host: InterfaceFacts; peer: InterfaceFacts }> {
    if (this.links.has(req.hostIf) || this.links.has(req.peer))
      return Promise.reject(new Error('RTNETLINK answers: File exists'));
    const host = iface(req.hostIf, [], {
      mtu: req.mtu,
      master: req.bridge,
      alias: req.alias,
      mac: `02:00:00:00:01:${(++this.mac).toString(16).padStart(2, '0')}`,
    });
    const peer = iface(req.peer, [], {
      mtu: req.mtu,
      up: false,
      mac: req.peerMac ?? `02:00:00:00:02:${this.mac.toString(16).padStart(2, '0')}`,
    });
    this.links.set(req.hostIf, host);
    this.links.set(req.peer, peer);
    this.peers.set(req.hostIf, req.peer);
    if (req.fastPath !== undefined) this.peerMap.push({ address: req.fastPath.address, hostIf: req.hostIf });
    return Promise.resolve({ host, peer });
  }

  hostLink(name: string): Promise<InterfaceFacts | undefined> {
    return Promise.resolve(this.links.get(name));
  }

  /** Addresses the driver entered in / removed from the fast path's accelerator map, in order. */
  readonly peerMap: { readonly address: Ipv4; readonly hostIf?: string }[] = [];

  forgetPeerMapAddress(address: Ipv4): Promise<void> {
    this.peerMap.push({ address });
    return Promise.resolve();
  }

  deleteHostLink(name: string): Promise<boolean> {
    const existed = this.links.delete(name);
    const peer = this.peers.get(name);
    if (peer) this.links.delete(peer);
    this.peers.delete(name);
    return Promise.resolve(existed);
  }
}

export const FAN_BRIDGE = iface('fan-250', ['250.3.4.1/24'], {
  alias: 'fan: bridge of fan 250.0.0.0/8',
  kind: 'bridge',
  mtu: 8950,
});
export const SLICE = '250.3.4.0/24';
export const POOL_ID = `fan-250:${SLICE}`;
export const NET = 'a'.repeat(64);
export const EP = 'e'.repeat(64);

export interface HarnessOptions {
  readonly fans?: string[];
  readonly facts?: HostFacts;
  /** What dockerd's networks hold; absent: no reclaiming. */
  readonly dockerAddresses?: () => Promise<ReadonlySet<Ipv4>>;
  readonly graceMs?: number;
  /** Policy groups (`fan.group`); absent: the plugin has none. */
  readonly groupPool?: DockerDeps['groupPool'];
  readonly ungroupedPool?: DockerDeps['ungroupedPool'];
}

export function harness(options: HarnessOptions = {}) {
  const facts = options.facts ?? hostFacts([...typicalHost().interfaces, FAN_BRIDGE], typicalHost().routes);
  const fans: Fan[] = resolveFans(
    (options.fans ?? ['-o 250.0.0.0/8 -u 172.16.0.0/16']).map((l) => parseFanWords(l.split(' '))),
    typicalHost(),
  );
  const veths = new FakeVeths();
  const bindings = new FakeBinder();
  const stores = new Map<string, MemoryLeaseStore>();
  const storeOf = (bridge: string, fan?: Fan): MemoryLeaseStore => {
    const existing = stores.get(bridge);
    if (existing) return existing;
    const store = new MemoryLeaseStore(fan ? poolOf(fan) : undefined);
    stores.set(bridge, store);
    return store;
  };
  const logs: string[] = [];
  const ports = new FakePorts();
  const groupOfNetwork = new Map<string, string>();
  const networkGroups: NetworkGroups = {
    group: (id) => Promise.resolve(groupOfNetwork.get(id)),
    set: (id, group) => {
      if (group === undefined) groupOfNetwork.delete(id);
      else groupOfNetwork.set(id, group);
      return Promise.resolve();
    },
  };
  let ids = 0;
  const deps: DockerDeps = {
    fans: () => Promise.resolve({ fans, facts }),
    leases: (fan, pool): LeaseStore => (pool ? storeOf(fan.bridge, fan).withPool(pool) : storeOf(fan.bridge, fan)),
    leasesOfBridge: (bridge) => storeOf(bridge),
    veths,
    newId: () => `req${++ids}`,
    log: (line) => void logs.push(line),
    ports,
    portTable: ports,
    bindings,
    networkGroups,
    ...(options.dockerAddresses ? { dockerAddresses: options.dockerAddresses } : {}),
    reclaimGraceMs: options.graceMs ?? 0,
    ...(options.groupPool ? { groupPool: options.groupPool } : {}),
    ...(options.ungroupedPool ? { ungroupedPool: options.ungroupedPool } : {}),
    now: () => new Date('2025-01-01T01:00:00.000Z'),
  };
  // A fresh handler table per call, as after a plugin restart: nothing may live in memory.
  const call = async (path: string, body: unknown) => {
    const answer = await dispatchDockerCall(
      fanDockerPlugin(deps),
      path,
      typeof body === 'string' ? body : JSON.stringify(body),
    );
    return { status: answer.status, body: answer.body as Record<string, unknown> };
  };
  const leases = () => storeOf('fan-250', fans[0]).list();
  return { call, veths, leases, logs, fans, storeOf, ports, deps, bindings, groupOfNetwork };
}

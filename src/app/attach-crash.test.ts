/**
 * A CNI ADD killed between creating the veth and labelling it (docs/crash-recovery.md): the host end exists with
 * fan's device group (set in the creating call) but without its alias. DEL must remove it, and ADD must work again.
 */
import { FakeBinder } from '../testing/port-binder.js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCidr } from '../core/address/ipv4.js';
import { parseFanWords } from '../core/config/fan-spec.js';
import { type Fan, resolveFans } from '../core/config/resolve.js';
import { InterfaceExistsError } from '../core/attach/errors.js';
import { dockerVethNames, hostVethName } from '../core/attach/names.js';
import { poolOf } from '../core/ipam/pool.js';
import type { InterfaceFacts, RouteFacts } from '../core/model/host-facts.js';
import { createAttachedVeth } from '../kernel/veth-attach.js';
import type { RunOptions, RunResult } from '../ports/runner.js';
import type { AttachedVethRequest, SandboxLinks } from '../ports/sandbox.js';
import { MemoryLeaseStore } from '../store/memory-leases.js';
import { iface, typicalHost } from '../testing/builders.js';
import { FakeVeths } from '../testing/docker-plugin.js';
import { attach, detach } from './attach.js';
import { type DockerDeps, deleteEndpoint } from './docker.js';

const NETNS = '/var/run/netns/c1';

/** Host links and container links; `killAfterCreate` leaves what a kill between the two batch lines leaves. */
class Links implements SandboxLinks {
  readonly host = new Map<string, InterfaceFacts>();
  readonly container = new Map<string, string>(); // ifname → host end
  killAfterCreate = false;
  readonly requests: AttachedVethRequest[] = [];

  netnsExists(): Promise<boolean> {
    return Promise.resolve(true);
  }
  async createAttachedVeth(req: AttachedVethRequest): Promise<{ host: InterfaceFacts; container: InterfaceFacts }> {
    this.requests.push(req);
    if (this.host.has(req.hostIf) || this.container.has(req.ifname))
      throw new InterfaceExistsError(`${req.hostIf} exists`);
    const host = iface(req.hostIf, [], { master: req.bridge, group: '250', mtu: req.mtu });
    this.host.set(req.hostIf, host);
    this.container.set(req.ifname, req.hostIf);
    if (this.killAfterCreate) throw new Error('killed');
    const labelled = { ...host, alias: req.alias };
    this.host.set(req.hostIf, labelled);
    try {
      await req.bound;
    } catch (error) {
      await this.deleteHostLink(req.hostIf);
      throw error;
    }
    return { host: labelled, container: iface(req.ifname, [formatCidr(req.address)]) };
  }
  containerLink(_netns: string, ifname: string): Promise<InterfaceFacts | undefined> {
    return Promise.resolve(this.container.has(ifname) ? iface(ifname) : undefined);
  }
  containerRoutes(): Promise<RouteFacts[]> {
    return Promise.resolve([]);
  }
  hostLink(name: string): Promise<InterfaceFacts | undefined> {
    return Promise.resolve(this.host.get(name));
  }
  hostLinks(): Promise<InterfaceFacts[]> {
    return Promise.resolve([...this.host.values()]);
  }
  deleteHostLink(name: string): Promise<boolean> {
    for (const [ifname, hostIf] of this.container) if (hostIf === name) this.container.delete(ifname);
    return Promise.resolve(this.host.delete(name));
  }
}

const [resolved] = resolveFans([parseFanWords('-o 250.0.0.0/8 -u 172.16.0.0/16'.split(' '))], typicalHost());
if (!resolved) throw new Error('no fan');
const fan: Fan = resolved;
const request = { network: 'net', containerId: 'c1', netns: NETNS, ifname: 'eth0' };
const deps = (links: Links) => ({ links, log: () => {}, bindings: new FakeBinder() });

/** A host after an ADD killed right after the create: the unlabelled veth and the lease. */
async function afterKilledAdd(): Promise<{ links: Links; leases: MemoryLeaseStore }> {
  const links = new Links();
  const leases = new MemoryLeaseStore(poolOf(fan));
  links.killAfterCreate = true;
  await assert.rejects(attach(fan, leases, request, deps(links)), /killed/);
  links.killAfterCreate = false;
  // attach undid its lease on the error; a real kill -9 runs no undo: the lease stays too.
  await leases.allocate('cni:net:c1', 'eth0');
  const veth = links.host.get(hostVethName('c1', 'eth0'));
  assert.ok(veth && veth.alias === undefined && veth.group === '250', 'an unlabelled veth of fan group is left');
  return { links, leases };
}

describe('a CNI ADD killed before its veth was labelled', () => {
  it('DEL removes the unlabelled veth (and its container end) and releases the lease', async () => {
    const { links, leases } = await afterKilledAdd();
    await detach([leases], request, deps(links));
    assert.deepEqual([...links.host.keys()], []);
    assert.deepEqual([...links.container.keys()], []);
    assert.deepEqual(await leases.list(), []);
  });

  it('ADD again (without DEL) replaces it and succeeds', async () => {
    const { links, leases } = await afterKilledAdd();
    const made = await attach(fan, leases, request, deps(links));
    assert.match(made.host.alias ?? '', /^fan: cni net c1 eth0$/);
    assert.equal((await leases.list()).length, 1);
  });

  it('a veth of that name without fan group or alias is still refused', async () => {
    const links = new Links();
    const name = hostVethName('c1', 'eth0');
    links.host.set(name, iface(name));
    const leases = new MemoryLeaseStore(poolOf(fan));
    await assert.rejects(attach(fan, leases, request, deps(links)), /exists and is not fan's/);
    await detach([leases], request, deps(links));
    assert.ok(links.host.has(name), 'DEL leaves a foreign link alone');
  });
});

describe('an attach whose port cannot be bound', () => {
  it('fails with the binding error, leaving no veth, no lease and nothing to unbind', async () => {
    const links = new Links();
    const leases = new MemoryLeaseStore(poolOf(fan));
    const bindings = new FakeBinder();
    bindings.bind = (b) => {
      bindings.calls.push(`bind ${b.port}`);
      return Promise.reject(new Error('cannot bind the port in nftables table bridge fan-bind'));
    };
    await assert.rejects(attach(fan, leases, request, { links, log: () => {}, bindings }), /cannot bind the port/);
    assert.deepEqual([...links.host.keys()], []);
    assert.deepEqual(await leases.list(), []);
    assert.deepEqual(bindings.calls, [`bind ${hostVethName('c1', 'eth0')}`]);
  });
});

describe('createAttachedVeth', () => {
  it("sets fan's device group in the same request that creates the veth", async () => {
    const calls: { argv: readonly string[]; input?: string }[] = [];
    const runner = {
      run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
        calls.push({ argv, ...(options.input !== undefined ? { input: options.input } : {}) });
        const dev = /address show dev (\S+)/.exec(options.input ?? '')?.[1] ?? '';
        return Promise.resolve({ exitCode: 0, stderr: '', stdout: JSON.stringify([{ ifname: dev, mtu: 1450 }]) });
      },
    };
    await createAttachedVeth(runner, {
      netns: NETNS,
      ifname: 'eth0',
      hostIf: 'fan12345678',
      mtu: 1450,
      bridge: 'fan-250',
      alias: 'fan: cni net c1 eth0',
      address: { address: fan.host.slice.address + 2, prefix: 24 },
      gateway: fan.host.gateway,
      bound: Promise.resolve(),
    });
    const create = calls[0]?.input?.split('\n')[0] ?? '';
    assert.match(create, /^link add fan12345678 group 250 .*type veth peer name eth0 /);
  });
});

describe('a Docker CreateEndpoint killed before its veth was labelled', () => {
  const ENDPOINT = 'e'.repeat(64);
  it('DeleteEndpoint deletes the unlabelled veth of its name; a foreign link of that name stays', async () => {
    const veths = new FakeVeths();
    const { hostIf } = dockerVethNames(ENDPOINT);
    veths.links.set(hostIf, iface(hostIf, [], { group: '250' }));
    const bindings = new FakeBinder();
    const deps = { veths, bindings } as unknown as DockerDeps; // deleteEndpoint uses only these two
    assert.equal(await deleteEndpoint(deps, { endpointId: ENDPOINT }), true);
    assert.equal(veths.links.has(hostIf), false);
    assert.deepEqual(bindings.calls, [`unbind ${hostIf}`], 'unbound after the veth is gone');
    veths.links.set(hostIf, iface(hostIf));
    assert.equal(await deleteEndpoint(deps, { endpointId: ENDPOINT }), false);
    assert.ok(veths.links.has(hostIf));
    assert.equal(bindings.calls.length, 1, "a foreign link's binding is not touched");
  });
});

describe("a fast-path fan's attach", () => {
  const fanOf = (words: string): Fan =>
    resolveFans([parseFanWords(words.split(' '))], typicalHost())[0] ?? assert.fail('no fan');
  const portBlockOf = async (f: Fan, extra: { fastPath?: false } = {}): Promise<number | undefined> => {
    const links = new Links();
    await attach(f, new MemoryLeaseStore(poolOf(f)), { ...request, ...extra }, deps(links));
    return links.requests[0]?.portBlock;
  };
  it("binds the port to the bridge's block on vxlan-fast and host-gw-fast, not on the kernel types", async () => {
    for (const type of ['vxlan-fast', 'host-gw-fast']) {
      const f = fanOf(`-o 250.0.0.0/8 -u 172.16.0.0/16 --type ${type}`);
      assert.equal(await portBlockOf(f), f.host.slice.address, type);
    }
    assert.equal(await portBlockOf(fan), undefined, 'vxlan');
  });
  it('"fastPath": false leaves the container to the bridge (no port hook, no accelerator entry)', async () => {
    assert.equal(
      await portBlockOf(fanOf('-o 250.0.0.0/8 -u 172.16.0.0/16 --type vxlan-fast'), { fastPath: false }),
      undefined,
    );
  });
});

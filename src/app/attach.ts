/**
 * Attaching containers to a fan bridge, the use cases behind the CNI verbs: read the host → plan (pure, in
 * src/core/attach) → apply through the SandboxLinks port, undoing what was applied when a step fails.
 * Addresses come from the shared IPAM (ports/leases.ts), keyed by `cni:<network>:<container id>` + interface name.
 */
import { type Ipv4, formatIpv4 } from '../core/address/ipv4.js';
import type { Fan } from '../core/config/resolve.js';
import { FanError, errorMessage } from '../core/errors.js';
import {
  HOST_VETH,
  cniOwner,
  containerIdOfOwner,
  hostVethName,
  isUnlabelledHostVeth,
  parseCniAlias,
} from '../core/attach/names.js';
import {
  type AttachmentPlan,
  type AttachmentRequest,
  type ExpectedAttachment,
  attachmentProblems,
  planAttachment,
} from '../core/attach/plan.js';
import type { InterfaceFacts } from '../core/model/host-facts.js';
import type { Lease, LeaseStore, PodRef } from '../ports/leases.js';
import type { SandboxLinks } from '../ports/sandbox.js';
import { InterfaceExistsError } from '../core/attach/errors.js';
import { backendOf } from '../backends/registry.js';
import { containerMac } from '../core/bind/binding.js';
import type { PortBinder } from '../ports/bindings.js';

export interface AttachDeps {
  readonly links: SandboxLinks;
  /** Binds each host veth to its container's MAC and address before the veth exists (src/app/port-bindings.ts). */
  readonly bindings: PortBinder;
  readonly log: (line: string) => void;
}

/** The container's network namespace does not exist (CNI: unknown container). */
export class SandboxGoneError extends FanError {
  override name = 'SandboxGoneError';
}

/** CHECK found the attachment different from what ADD set up. */
export class AttachmentMismatchError extends FanError {
  override name = 'AttachmentMismatchError';
  constructor(
    message: string,
    readonly problems: readonly string[],
  ) {
    super(message, 'DEL and ADD the container again to repair it');
  }
}

export interface Attachment {
  readonly plan: AttachmentPlan;
  readonly host: InterfaceFacts;
  readonly container: InterfaceFacts;
}

/**
 * Gives the container an interface on the fan's bridge with an address from `leases`. On failure, everything this
 * call created is removed again and the address released.
 */
export async function attach(
  fan: Fan,
  leases: LeaseStore,
  req: AttachmentRequest & { readonly request?: Ipv4; readonly pod?: PodRef },
  deps: AttachDeps,
): Promise<Attachment> {
  const { links } = deps;
  if (!(await links.netnsExists(req.netns))) {
    throw new SandboxGoneError(
      `network namespace ${req.netns} of container ${req.containerId} does not exist`,
      "pass the path of the container's network namespace in CNI_NETNS",
    );
  }
  // What can be refused without a lease (MTU, label length) is refused before one is taken: plan, then apply.
  planAttachment(fan, { address: fan.host.slice.address }, req);
  const owner = cniOwner(req.network, req.containerId);
  const undo: { what: string; run: () => Promise<unknown> }[] = [];
  try {
    const lease = await leases.allocate(owner, req.ifname, req.request, req.pod ? { pod: req.pod } : {});
    undo.push({ what: `release ${formatIpv4(lease.address)}`, run: () => leases.release(owner, req.ifname) });
    const plan = planAttachment(fan, lease, req);
    const portBlock = req.fastPath === false ? undefined : backendOf(fan).portBlock?.(fan);
    const mac = containerMac(plan.address.address);
    // The binding and the veth's creation run side by side; the veth's host end goes up only once the port is
    // bound, so a crash at any point leaves no port that is up and unbound (src/kernel/veth-attach.ts).
    const bound = deps.bindings.bind({ port: plan.hostIf, mac, addresses: [plan.address.address] });
    const bindFailed = bound.then(
      () => false,
      () => true,
    );
    undo.push({
      what: `unbind ${plan.hostIf}`,
      run: async () => {
        if (!(await bindFailed)) await deps.bindings.unbind(plan.hostIf);
      },
    });
    const veth = {
      netns: plan.netns,
      ifname: plan.ifname,
      hostIf: plan.hostIf,
      mtu: plan.mtu,
      bridge: plan.bridge,
      alias: plan.alias,
      address: plan.address,
      gateway: plan.gateway,
      bound,
      // The agent's fan view is cached, so its fan stays the same object until the fans change.
      ...(portBlock !== undefined ? { portBlock, fastPathScope: fan } : {}),
      mac,
    };
    // Optimistic: the names are free on almost every call, and finding out costs two more processes.
    const made = await links.createAttachedVeth(veth).catch(async (error: unknown) => {
      if (!(error instanceof InterfaceExistsError)) throw error;
      await clearLeftover(plan, deps);
      return links.createAttachedVeth(veth);
    });
    undo.length = 0;
    return { plan, ...made };
  } finally {
    for (const step of undo.reverse()) {
      await step.run().catch((error: unknown) => deps.log(`rollback: ${step.what} failed: ${errorMessage(error)}`));
    }
  }
}

/**
 * A name of the attachment is taken. The host end's name follows from (container id, interface name), so a fan
 * veth of that name is a leftover of this container's earlier attachment (an ADD interrupted by a crash, or ADD
 * repeated without DEL): it is removed, and its container end with it. Anything else is refused.
 */
async function clearLeftover(plan: AttachmentPlan, deps: AttachDeps): Promise<void> {
  const stale = await deps.links.hostLink(plan.hostIf);
  if (stale) {
    if (!parseCniAlias(stale.alias) && !isUnlabelledHostVeth(stale)) {
      throw new FanError(
        `host interface ${plan.hostIf} exists and is not fan's`,
        `remove it (ip link del ${plan.hostIf}) if it is not in use`,
      );
    }
    deps.log(`removing leftover host interface ${plan.hostIf}`);
    await deps.links.deleteHostLink(plan.hostIf);
  }
  if (await deps.links.containerLink(plan.netns, plan.ifname)) {
    throw new FanError(
      `interface ${plan.ifname} already exists in ${plan.netns}`,
      'pick another CNI_IFNAME, or DEL the previous attachment first',
    );
  }
}

export interface DetachRequest {
  readonly network: string;
  readonly containerId: string;
  readonly ifname: string;
}

/**
 * Removes the container's host veth (its peer in the container goes with it) and releases its address from every
 * lease store given. Succeeds when any part is already gone.
 */
export async function detach(stores: readonly LeaseStore[], req: DetachRequest, deps: AttachDeps): Promise<Lease[]> {
  const hostIf = hostVethName(req.containerId, req.ifname);
  const link = await deps.links.hostLink(hostIf);
  // Unlabelled: an ADD killed between creating the veth and labelling it; its name says it is this attachment's.
  const ours = link !== undefined && (parseCniAlias(link.alias) !== undefined || isUnlabelledHostVeth(link));
  if (link && ours) await deps.links.deleteHostLink(hostIf);
  if (!link || ours) await deps.bindings.unbind(hostIf); // after the veth is gone
  const owner = cniOwner(req.network, req.containerId);
  const released: Lease[] = [];
  for (const store of stores) {
    const lease = await store.release(owner, req.ifname);
    if (lease) released.push(lease);
  }
  return released;
}

/** Compares an attachment with the kernel and the IPAM; throws AttachmentMismatchError listing every difference. */
export async function verify(
  leases: LeaseStore,
  req: DetachRequest & { readonly netns: string },
  expected: Omit<ExpectedAttachment, 'hostIf' | 'ifname'>,
  deps: AttachDeps,
): Promise<void> {
  if (!(await deps.links.netnsExists(req.netns))) {
    throw new SandboxGoneError(
      `network namespace ${req.netns} of container ${req.containerId} does not exist`,
      'the container is gone: DEL it',
    );
  }
  const hostIf = hostVethName(req.containerId, req.ifname);
  const owner = cniOwner(req.network, req.containerId);
  const [container, containerRoutes, host, all] = await Promise.all([
    deps.links.containerLink(req.netns, req.ifname),
    deps.links.containerRoutes(req.netns),
    deps.links.hostLink(hostIf),
    leases.list(),
  ]);
  const lease = all.find((l) => l.owner === owner && l.ifname === req.ifname);
  const problems = attachmentProblems(
    { ...expected, hostIf, ifname: req.ifname },
    { containerRoutes, ...(container ? { container } : {}), ...(host ? { host } : {}), ...(lease ? { lease } : {}) },
  );
  if (problems.length > 0) {
    throw new AttachmentMismatchError(
      `attachment ${req.ifname} of container ${req.containerId} differs from its ADD result: ${problems.join('; ')}`,
      problems,
    );
  }
}

export interface CollectReport {
  readonly releasedLeases: readonly Lease[];
  readonly deletedLinks: readonly string[];
}

/**
 * CNI GC: keeps the attachments of `network` listed in `valid`, removes the leases and host veths of every other
 * attachment of that network. Leases of other networks and of other integrations are left alone.
 */
export async function collect(
  stores: readonly LeaseStore[],
  network: string,
  valid: readonly { readonly containerId: string; readonly ifname: string }[],
  deps: AttachDeps,
): Promise<CollectReport> {
  const keepKey = new Set(valid.map((v) => `${v.containerId}\0${v.ifname}`));
  const isValid = (containerId: string, ifname: string): boolean => keepKey.has(`${containerId}\0${ifname}`);
  const releasedLeases: Lease[] = [];
  for (const store of stores) {
    releasedLeases.push(
      ...(await store.gc((l) => {
        const id = containerIdOfOwner(network, l.owner);
        return id === undefined || isValid(id, l.ifname);
      })),
    );
  }
  const stale = new Set<string>();
  for (const l of releasedLeases) {
    const id = containerIdOfOwner(network, l.owner);
    if (id !== undefined) stale.add(hostVethName(id, l.ifname));
  }
  for (const link of await deps.links.hostLinks()) {
    const label = parseCniAlias(link.alias);
    if (label && HOST_VETH.test(link.name) && label.network === network && !isValid(label.containerId, label.ifname))
      stale.add(link.name);
  }
  const deletedLinks: string[] = [];
  for (const name of [...stale].sort()) {
    const link = await deps.links.hostLink(name);
    if (parseCniAlias(link?.alias)?.network !== network) continue; // gone already, or not this network's
    if (await deps.links.deleteHostLink(name)) deletedLinks.push(name);
    await deps.bindings.unbind(name);
  }
  return { releasedLeases, deletedLinks };
}

/**
 * A container's veth and its addressing in three `ip` processes, two of them side by side, none waiting on the
 * port binding longer than it must:
 *
 * 1. one `ip -batch` here (the host's namespace) creates the pair with the host end on the bridge but down, and the
 *    container end directly inside the container's namespace (`peer … netns PATH`: the kernel makes it there, so
 *    CNI_IFNAME never exists next to the host's own interfaces), labels the host end, and prints it. This runs
 *    while the port is being bound (`req.bound`): a port that is down passes no frame either way, so the
 *    container can send nothing the binding has not yet been told to allow;
 * 2. once the binding is in place, one `ip` here brings the host end up while one `ip -n NAME -batch` (or
 *    `nsenter --net=PATH ip -batch`, src/kernel/netns-ip.ts) inside the container brings its end up with the
 *    address and the default route, and prints it.
 *
 * On a fast-path fan the port joins the bridge's tc block and the accelerator map as soon as it exists (with the
 * ifindex the create printed), alongside the rest; until the host end is up nothing reaches it.
 *
 * The host end carries fan's device group from the creating message itself, so it is recognisable as fan's from
 * the moment it exists. The kernel ignores an alias in that message, so the label is a second line of the same
 * batch: if the `ip` process is killed between the two lines, the group alone marks the veth as fan's, and DEL (or
 * the next ADD) removes it (src/app/attach.ts). When either name is taken, the create fails with EEXIST before
 * anything changed: reported as InterfaceExistsError for the caller to sort out.
 */
import { decodeAddressShow } from '../codec/ip-json.js';
import { formatCidr, formatIpv4 } from '../core/address/ipv4.js';
import { InterfaceExistsError } from '../core/attach/errors.js';
import { InternalError } from '../core/errors.js';
import type { InterfaceFacts } from '../core/model/host-facts.js';
import { FAN_LINK_GROUP } from '../core/model/host-state.js';
import type { CommandRunner } from '../ports/runner.js';
import type { AttachedVethRequest } from '../ports/sandbox.js';
import { KernelCommandError } from './exec.js';
import { fastPathPeer } from './fastpath.js';
import { ipInNetns } from './netns-ip.js';

/** `ip -batch` splits lines on white space and takes "…" as one word. */
function quoted(what: string, text: string): string {
  if (/["\\\n]/.test(text)) throw new InternalError(`${what} ${JSON.stringify(text)} cannot be quoted for ip -batch`);
  return `"${text}"`;
}

const EXISTS_ON_FIRST_LINE = /File exists[\s\S]*Command failed -:1\b/;

interface Shown {
  readonly facts: InterfaceFacts;
  readonly ifindex?: number;
}

async function batchShow(
  runner: CommandRunner,
  argv: readonly string[],
  lines: readonly string[],
  dev: string,
): Promise<Shown> {
  const out = await runner.run(argv, { input: `${[...lines, `address show dev ${dev}`].join('\n')}\n` });
  const json = out.stdout.trim();
  const facts = decodeAddressShow(json)[0];
  if (!facts) throw new KernelCommandError(argv, 0, `no JSON for ${dev} in the output: ${out.stdout.slice(0, 200)}`);
  const ifindex = (JSON.parse(json) as { ifindex?: unknown }[])[0]?.ifindex;
  return typeof ifindex === 'number' ? { facts, ifindex } : { facts };
}

const IP_BATCH = ['-json', '-details', '-batch', '-'];

export async function createAttachedVeth(
  runner: CommandRunner,
  req: AttachedVethRequest,
): Promise<{ host: InterfaceFacts; container: InterfaceFacts }> {
  const mtu = String(req.mtu);
  const netns = quoted('namespace path', req.netns);
  const mac = req.mac !== undefined ? ` address ${req.mac}` : '';
  let created: Shown;
  try {
    created = await batchShow(
      runner,
      ['ip', ...IP_BATCH],
      [
        `link add ${req.hostIf} group ${FAN_LINK_GROUP} mtu ${mtu} master ` +
          `${req.bridge} type veth peer name ${req.ifname}${mac} mtu ${mtu} netns ${netns}`,
        `link set dev ${req.hostIf} alias ${quoted('alias', req.alias)}`,
      ],
      req.hostIf,
    );
  } catch (error) {
    if (error instanceof KernelCommandError && EXISTS_ON_FIRST_LINE.test(error.stderr)) {
      throw new InterfaceExistsError(
        `${req.hostIf} (here) or ${req.ifname} (in ${req.netns}) already exists`,
        'DEL the previous attachment first',
      );
    }
    await deleteLink(runner, req.hostIf); // the create may have worked and a later line failed
    throw error;
  }
  const fast = (containerMac: string): Promise<void> => {
    if (req.portBlock === undefined) return Promise.resolve();
    const scope = req.fastPathScope !== undefined ? { scope: req.fastPathScope } : {};
    const ifindex = created.ifindex !== undefined ? { ifindex: created.ifindex } : {};
    const to = { hostIf: req.hostIf, mac: containerMac, block: req.portBlock, ...scope, ...ifindex };
    return fastPathPeer(runner, req.address.address, to);
  };
  // Never fails (an accelerator only); started now when the container's MAC is known already.
  const early = req.mac !== undefined ? fast(req.mac) : Promise.resolve();
  try {
    await req.bound;
    // Both run to the end before anything is cleaned up, so no step is still running when the veth goes.
    const [host, container] = await Promise.allSettled([
      batchShow(runner, ['ip', ...IP_BATCH], [`link set dev ${req.hostIf} up`], req.hostIf),
      batchShow(
        runner,
        ipInNetns(req.netns, IP_BATCH),
        [
          `link set dev ${req.ifname} up`,
          `address add ${formatCidr(req.address)} dev ${req.ifname}`,
          `route add default via ${formatIpv4(req.gateway)} dev ${req.ifname}`,
        ],
        req.ifname,
      ),
    ]);
    if (host.status === 'rejected') throw host.reason;
    if (container.status === 'rejected') throw container.reason;
    await early;
    if (req.mac === undefined && container.value.facts.mac !== undefined) await fast(container.value.facts.mac);
    return { host: host.value.facts, container: container.value.facts };
  } catch (error) {
    await early;
    await deleteLink(runner, req.hostIf); // its peer in the container goes with it
    throw error;
  }
}

async function deleteLink(runner: CommandRunner, name: string): Promise<void> {
  await runner.run(['ip', 'link', 'del', 'dev', name], { allowFailure: true });
}

/**
 * A container's veth and its addressing with two `ip` processes instead of six: one `ip -batch` in this (the
 * host's) namespace creates the pair with the host end already on the bridge and up and the container end created
 * directly inside the container's namespace (`peer … netns PATH`: the kernel makes it there, so CNI_IFNAME never
 * exists next to the host's own interfaces), labels the host end, and prints it; one `nsenter --net=PATH ip
 * -batch` inside the container brings its end up with the address and the default route, and prints it.
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

/** `ip -batch` splits lines on white space and takes "…" as one word. */
function quoted(what: string, text: string): string {
  if (/["\\\n]/.test(text)) throw new InternalError(`${what} ${JSON.stringify(text)} cannot be quoted for ip -batch`);
  return `"${text}"`;
}

const EXISTS_ON_FIRST_LINE = /File exists[\s\S]*Command failed -:1\b/;

async function batchShow(
  runner: CommandRunner,
  prefix: readonly string[],
  lines: readonly string[],
  dev: string,
): Promise<InterfaceFacts> {
  const argv = [...prefix, 'ip', '-json', '-details', '-batch', '-'];
  const out = await runner.run(argv, { input: `${[...lines, `address show dev ${dev}`].join('\n')}\n` });
  const link = decodeAddressShow(out.stdout.trim())[0];
  if (!link) throw new KernelCommandError(argv, 0, `no JSON for ${dev} in the output: ${out.stdout.slice(0, 200)}`);
  return link;
}

export async function createAttachedVeth(
  runner: CommandRunner,
  req: AttachedVethRequest,
): Promise<{ host: InterfaceFacts; container: InterfaceFacts }> {
  const mtu = String(req.mtu);
  const netns = quoted('namespace path', req.netns);
  const mac = req.mac !== undefined ? ` address ${req.mac}` : '';
  let host: InterfaceFacts;
  try {
    host = await batchShow(
      runner,
      [],
      [
        `link add ${req.hostIf} group ${FAN_LINK_GROUP} mtu ${mtu} master ` +
          `${req.bridge} up type veth peer name ${req.ifname}${mac} mtu ${mtu} netns ${netns}`,
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
  try {
    const container = await batchShow(
      runner,
      ['nsenter', `--net=${req.netns}`],
      [
        `link set dev ${req.ifname} up`,
        `address add ${formatCidr(req.address)} dev ${req.ifname}`,
        `route add default via ${formatIpv4(req.gateway)} dev ${req.ifname}`,
      ],
      req.ifname,
    );
    if (req.portBlock !== undefined && container.mac !== undefined) {
      const scope = req.fastPathScope !== undefined ? { scope: req.fastPathScope } : {};
      const to = { hostIf: req.hostIf, mac: container.mac, block: req.portBlock, ...scope };
      await fastPathPeer(runner, req.address.address, to);
    }
    return { host, container };
  } catch (error) {
    await deleteLink(runner, req.hostIf); // its peer in the container goes with it
    throw error;
  }
}

async function deleteLink(runner: CommandRunner, name: string): Promise<void> {
  await runner.run(['ip', 'link', 'del', 'dev', name], { allowFailure: true });
}

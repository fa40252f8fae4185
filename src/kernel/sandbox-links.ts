/**
 * SandboxLinks with iproute2. Commands for the container run as `ip -n NAME …` or `nsenter --net=PATH ip …`
 * (netns-ip.ts), which take both forms of a namespace path runtimes pass (/var/run/netns/NAME and
 * /proc/PID/ns/net). A container's veth is made by veth-attach.ts (three `ip` processes per attachment).
 */
import { access } from 'node:fs/promises';
import { decodeAddressShow, decodeRouteShow } from '../codec/ip-json.js';
import type { InterfaceFacts, RouteFacts } from '../core/model/host-facts.js';
import { FAN_LINK_GROUP } from '../core/model/host-state.js';
import type { CommandRunner } from '../ports/runner.js';
import { InternalError } from '../core/errors.js';
import { KernelCommandError } from './exec.js';
import type { AttachedVethRequest, HostVeths, SandboxLinks, VethPairRequest } from '../ports/sandbox.js';
import { createAttachedVeth } from './veth-attach.js';
import { fastPathPeer } from './fastpath.js';
import { ipInNetns } from './netns-ip.js';
import type { Ipv4 } from '../core/address/ipv4.js';

/** iproute2's answer for a device that does not exist. */
const NO_DEVICE = /does not exist|Cannot find device/;

export class IpSandboxLinks implements SandboxLinks, HostVeths {
  constructor(
    private readonly runner: CommandRunner,
    /** Unused since veths are created from this namespace; kept so callers need not change. */
    _selfPid?: number,
  ) {}

  async netnsExists(netns: string): Promise<boolean> {
    return access(netns).then(
      () => true,
      () => false,
    );
  }

  createAttachedVeth(req: AttachedVethRequest): Promise<{ host: InterfaceFacts; container: InterfaceFacts }> {
    return createAttachedVeth(this.runner, req);
  }

  async createVethPair(req: VethPairRequest): Promise<{ host: InterfaceFacts; peer: InterfaceFacts }> {
    if (/["\\\n]/.test(req.alias))
      throw new InternalError(`alias ${JSON.stringify(req.alias)} cannot be quoted for ip -batch`);
    const mtu = String(req.mtu);
    const address = req.peerMac !== undefined ? ['address', req.peerMac] : [];
    await this.runner.run([
      'ip',
      'link',
      'add',
      req.hostIf,
      'group', // fan's from the moment it exists, before the alias labels it
      FAN_LINK_GROUP,
      'mtu',
      mtu,
      'type',
      'veth',
      'peer',
      'name',
      req.peer,
      'mtu',
      mtu,
      ...address,
    ]);
    try {
      const host = await this.batchShow(
        ['ip'],
        [`link set dev ${req.hostIf} alias "${req.alias}" master ${req.bridge} up`],
        req.hostIf,
      );
      const peer = await this.hostLink(req.peer);
      if (!peer)
        throw new KernelCommandError(
          ['ip', 'address', 'show', 'dev', req.peer],
          1,
          `${req.peer} vanished right after it was created`,
        );
      if (req.fastPath !== undefined && peer.mac !== undefined) {
        // Delivery goes to the host end's peer, wherever the runtime moves it.
        const { address, block } = req.fastPath;
        await fastPathPeer(this.runner, address, { hostIf: req.hostIf, mac: peer.mac, block });
      }
      return { host, peer };
    } catch (error) {
      await this.deleteHostLink(req.hostIf).catch(() => false);
      throw error;
    }
  }

  /** Runs `commands` in one `ip -batch`, then shows `dev`. */
  private async batchShow(ip: readonly string[], commands: readonly string[], dev: string): Promise<InterfaceFacts> {
    const out = await this.runner.run([...ip, '-json', '-details', '-batch', '-'], {
      input: `${[...commands, `address show dev ${dev}`].join('\n')}\n`,
    });
    const link = decodeAddressShow(out.stdout.trim())[0];
    if (!link)
      throw new KernelCommandError(
        [...ip, '-json', '-details', '-batch', '-'],
        0,
        `no JSON for ${dev} in the output: ${out.stdout.slice(0, 200)}`,
      );
    return link;
  }

  private async show(argv: string[]): Promise<InterfaceFacts | undefined> {
    const out = await this.runner.run(argv, { allowFailure: true });
    if (out.exitCode === 0) return decodeAddressShow(out.stdout)[0];
    if (NO_DEVICE.test(out.stderr)) return undefined;
    throw new KernelCommandError(argv, out.exitCode, out.stderr);
  }

  containerLink(netns: string, ifname: string): Promise<InterfaceFacts | undefined> {
    return this.show(ipInNetns(netns, ['-json', '-details', 'address', 'show', 'dev', ifname]));
  }

  async containerRoutes(netns: string): Promise<RouteFacts[]> {
    const out = await this.runner.run(ipInNetns(netns, ['-json', '-4', 'route', 'show']));
    return decodeRouteShow(out.stdout);
  }

  forgetPeerMapAddress(address: Ipv4): Promise<void> {
    return fastPathPeer(this.runner, address);
  }

  hostLink(name: string): Promise<InterfaceFacts | undefined> {
    return this.show(['ip', '-json', '-details', 'address', 'show', 'dev', name]);
  }

  async hostLinks(): Promise<InterfaceFacts[]> {
    const out = await this.runner.run(['ip', '-json', '-details', 'address', 'show']);
    return decodeAddressShow(out.stdout);
  }

  async deleteHostLink(name: string): Promise<boolean> {
    const out = await this.runner.run(['ip', 'link', 'del', 'dev', name], { allowFailure: true });
    if (out.exitCode === 0) return true;
    if (NO_DEVICE.test(out.stderr)) return false;
    throw new KernelCommandError(['ip', 'link', 'del', 'dev', name], out.exitCode, out.stderr);
  }
}

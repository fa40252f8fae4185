/**
 * The thin layer that makes a plan real: reads fan's objects back from the kernel (CurrentHost), applies
 * operations one by one while recording how to undo each object this run created, and rolls those back in
 * reverse order when any step fails. It decides nothing: what to do comes from src/core/plan.
 */
import { readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { decodeAddressShow, decodeRouteShow } from '../codec/ip-json.js';
import {
  FORWARD_CHAINS,
  type ForwardChain,
  type ForwardRulesState,
  decodeForwardRules,
  dnsmasqArgv,
  forwardDeletes,
  forwardRules,
  iptablesArgv,
  routeArgv,
} from '../codec/commands.js';
import { decodeNftKey, renderNftReplace } from '../codec/nft.js';
import { formatCidr, formatIpv4 } from '../core/address/ipv4.js';
import { FanError, errorMessage } from '../core/errors.js';
import {
  type CurrentHost,
  type DhcpSpec,
  type DhcpState,
  type HostGwState,
  FAN_ONLINK_GATEWAY,
  FAN_TC_PREF,
  type LinkState,
  FAN_NFT_TABLE,
  FAN_ROUTE_PROTO,
  TUNNEL_DEVICE,
  isFanOwned,
} from '../core/model/host-state.js';
import { dhcpKey, natKey } from '../core/plan/diff.js';
import { type Op, describeOp } from '../core/plan/ops.js';
import type { CommandRunner } from '../ports/runner.js';
import { writeJsonAtomic } from '../store/json-file.js';
import { BpfTables } from './bpf.js';

export interface DataplaneOptions {
  /** Compiled bpf/fan.bpf.c. */
  readonly bpfObject: string;
  readonly stateDir: string;
}

type Undo = { readonly what: string; readonly run: () => Promise<unknown> };

const dhcpRecord = z.object({ pid: z.number(), key: z.string(), bridge: z.string() });

export class Dataplane {
  readonly bpf: BpfTables;

  constructor(
    private readonly runner: CommandRunner,
    private readonly options: DataplaneOptions,
  ) {
    this.bpf = new BpfTables(runner);
  }

  async readLinks(): Promise<LinkState[]> {
    const out = await this.runner.run(['ip', '-json', '-details', 'address', 'show']);
    return decodeAddressShow(out.stdout);
  }

  /** `hostGwDevices`: underlay devices a plan wants host-gw on (others are found through fan's routes). */
  async readCurrent(hostGwDevices: readonly string[] = []): Promise<CurrentHost> {
    const links = await this.readLinks();
    const routesOut = await this.runner.run(['ip', '-json', '-details', '-4', 'route', 'show', 'proto', String(FAN_ROUTE_PROTO)]);
    const routes = decodeRouteShow(routesOut.stdout).map((r) => ({
      dst: r.dst,
      dev: r.dev ?? '',
      ...(r.gateway !== undefined ? { via: r.gateway } : {}),
      ...(r.src !== undefined ? { src: r.src } : {}),
      ...(r.mtu !== undefined ? { mtu: r.mtu } : {}),
    }));
    const tunnel = links.find((l) => l.name === TUNNEL_DEVICE && isFanOwned(l));
    const tcPrograms = tunnel ? await this.bpf.programs(TUNNEL_DEVICE) : [];
    const hostGw = await this.readHostGw(links, routes, hostGwDevices);
    const overlayTable = tunnel && tcPrograms.length > 0 ? await this.bpf.readOverlays(TUNNEL_DEVICE) : undefined;
    const nft = await this.runner.run(['nft', 'list', 'table', 'ip', FAN_NFT_TABLE], { allowFailure: true });
    const nftKey = nft.exitCode === 0 ? decodeNftKey(nft.stdout) : undefined;
    const forward = await this.readForwardRules();
    const ipForward = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8').catch(() => '0')).trim() === '1';
    return {
      links,
      routes,
      tcPrograms,
      ...(overlayTable ? { overlayTable } : {}),
      hostGw,
      ...(nftKey !== undefined ? { nftKey } : {}),
      ...(nft.exitCode === 0 && nftKey === undefined ? { nftForeign: true } : {}),
      forwardAccept: forward.accepts,
      iptables: forward.iptables,
      forwardChain: forward.dockerUser ? 'DOCKER-USER' : 'FORWARD',
      dhcp: await this.readDhcp(links),
      ipForward,
    };
  }

  private async readHostGw(links: readonly LinkState[], routes: readonly { dev: string }[], wanted: readonly string[]): Promise<HostGwState[]> {
    const neighOut = await this.runner.run(['ip', '-json', 'neigh', 'show', formatIpv4(FAN_ONLINK_GATEWAY), 'nud', 'permanent']);
    const neighbours = (JSON.parse(neighOut.stdout || '[]') as { dev?: string; lladdr?: string }[]).filter((n) => n.dev !== undefined && n.dev !== TUNNEL_DEVICE);
    const devices = new Set([...wanted, ...routes.map((r) => r.dev).filter((d) => d !== TUNNEL_DEVICE), ...neighbours.map((n) => n.dev as string)]);
    const out: HostGwState[] = [];
    for (const dev of devices) {
      if (!links.some((l) => l.name === dev)) continue;
      const attached = (await this.bpf.programs(dev)).some((p) => p.direction === 'egress');
      const overlays = attached ? await this.bpf.readOverlays(dev) : undefined;
      const mac = neighbours.find((n) => n.dev === dev)?.lladdr;
      if (attached || mac !== undefined) out.push({ dev, attached, ...(overlays ? { overlays } : {}), ...(mac ? { neighbourMac: mac } : {}) });
    }
    return out;
  }

  /** `iptables -S` of FORWARD and, when Docker made it, DOCKER-USER (absent chains and no iptables: empty). */
  private async forwardListings(): Promise<{ chain: ForwardChain; text: string }[]> {
    const out: { chain: ForwardChain; text: string }[] = [];
    for (const chain of FORWARD_CHAINS) {
      const listing = await this.runner.run(['iptables', '-w', '-S', chain], { allowFailure: true }).catch(() => undefined);
      if (listing?.exitCode === 0) out.push({ chain, text: listing.stdout });
    }
    return out;
  }

  private async readForwardRules(): Promise<ForwardRulesState & { dockerUser: boolean; iptables: boolean }> {
    const listings = await this.forwardListings();
    const decoded = decodeForwardRules(listings.map((l) => l.text).join('\n'));
    return { ...decoded, dockerUser: listings.some((l) => l.chain === 'DOCKER-USER'), iptables: listings.some((l) => l.chain === 'FORWARD') };
  }

  private clsactMarker(dev: string): string {
    return `${this.options.stateDir}/${dev}.clsact-by-fan`;
  }

  private dhcpRecordPath(bridge: string): string {
    return `${this.options.stateDir}/${bridge}.dnsmasq.json`;
  }

  /** dnsmasq processes fan started (recorded in the state dir) that are still alive. */
  private async readDhcp(links: readonly LinkState[]): Promise<DhcpState[]> {
    const out: DhcpState[] = [];
    for (const link of links.filter((l) => l.kind === 'bridge' && isFanOwned(l))) {
      const text = await readFile(this.dhcpRecordPath(link.name), 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      const record = dhcpRecord.safeParse(JSON.parse(text));
      if (record.success && (await isDnsmasq(record.data.pid))) out.push({ bridge: record.data.bridge, pid: record.data.pid, key: record.data.key });
    }
    return out;
  }

  /**
   * Applies `ops` in order. When one fails, everything this run created is undone in reverse order and the
   * error names the failed step; the host is left as it was found.
   */
  async apply(ops: readonly Op[], log: (line: string) => void = () => {}): Promise<void> {
    const undo: Undo[] = [];
    let step = 0;
    try {
      for (const op of ops) {
        step++;
        log(describeOp(op));
        await this.applyOne(op, undo);
      }
    } catch (error) {
      const failures: string[] = [];
      for (const u of undo.reverse()) {
        try {
          await u.run();
        } catch (undoError) {
          failures.push(`${u.what}: ${errorMessage(undoError)}`);
        }
      }
      const op = ops[step - 1];
      throw new FanError(
        `step ${step} of ${ops.length} failed (${op ? describeOp(op) : '?'}): ${errorMessage(error)}\n` +
          (failures.length === 0 ? `rolled back the ${undo.length} change(s) this run made` : `rollback incomplete:\n  ${failures.join('\n  ')}`),
        undefined,
        { cause: error },
      );
    }
  }

  private async applyOne(op: Op, undo: Undo[]): Promise<void> {
    const run = (argv: string[]): Promise<unknown> => this.runner.run(argv);
    const linkDel = (name: string): Undo => ({ what: `delete ${name}`, run: () => run(['ip', 'link', 'del', name]) });
    switch (op.kind) {
      case 'ip-forward': {
        await run(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
        undo.push({ what: 'restore ip_forward', run: () => run(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0']) });
        return;
      }
      case 'bridge-add': {
        const b = op.bridge;
        await run(['ip', 'link', 'add', b.name, 'mtu', String(b.mtu), 'type', 'bridge']);
        undo.push(linkDel(b.name));
        await run(['ip', 'link', 'set', 'dev', b.name, 'alias', b.alias]);
        return;
      }
      case 'tunnel-add': {
        const t = op.tunnel;
        await run(['ip', 'link', 'add', t.name, 'address', t.mac, 'mtu', String(t.mtu), 'type', 'vxlan', 'external', 'dstport', String(t.port), 'nolearning']);
        undo.push(linkDel(t.name));
        // IPv6 off before `up`: its solicitations would only be dropped (and counted) by the egress program.
        await this.runner.run(['sysctl', '-q', '-w', `net.ipv6.conf.${t.name}.disable_ipv6=1`], { allowFailure: true });
        await run(['ip', 'link', 'set', 'dev', t.name, 'arp', 'off', 'alias', t.alias]);
        return;
      }
      case 'link-mtu':
        await run(['ip', 'link', 'set', 'dev', op.name, 'mtu', String(op.mtu)]);
        return;
      case 'link-up':
        await run(['ip', 'link', 'set', 'dev', op.name, 'up']);
        return;
      case 'link-del':
        await run(['ip', 'link', 'del', op.name]);
        return;
      case 'addr-add':
        await run(['ip', 'address', 'add', formatCidr(op.cidr), 'dev', op.dev]);
        undo.push({ what: `remove ${formatCidr(op.cidr)}`, run: () => run(['ip', 'address', 'del', formatCidr(op.cidr), 'dev', op.dev]) });
        return;
      case 'addr-del':
        await run(['ip', 'address', 'del', formatCidr(op.cidr), 'dev', op.dev]);
        return;
      case 'tc-attach': {
        await run(['tc', 'qdisc', 'replace', 'dev', op.dev, 'clsact']);
        undo.push({ what: `remove clsact from ${op.dev}`, run: () => this.runner.run(['tc', 'qdisc', 'del', 'dev', op.dev, 'clsact'], { allowFailure: true }) });
        for (const direction of ['egress', 'ingress']) {
          await run(['tc', 'filter', 'replace', 'dev', op.dev, direction, 'pref', String(FAN_TC_PREF), 'handle', '1', 'bpf', 'da', 'obj', this.options.bpfObject, 'sec', `tc/${direction}`]);
        }
        return;
      }
      case 'hostgw-attach': {
        // The underlay device is not fan's: add clsact only if absent (and remember that fan added it).
        const added = await this.runner.run(['tc', 'qdisc', 'add', 'dev', op.dev, 'clsact'], { allowFailure: true });
        if (added.exitCode === 0) {
          await writeFile(this.clsactMarker(op.dev), 'fan added the clsact qdisc\n');
          undo.push({ what: `remove clsact from ${op.dev}`, run: () => this.detachHostGw(op.dev) });
        } else if (!/File exists|Exclusivity flag on/.test(added.stderr)) {
          throw new FanError(`cannot add clsact to ${op.dev}: ${added.stderr.trim()}`);
        }
        await run(['tc', 'filter', 'replace', 'dev', op.dev, 'egress', 'pref', String(FAN_TC_PREF), 'handle', '1', 'bpf', 'da', 'obj', this.options.bpfObject, 'sec', 'tc/hostgw']);
        undo.push({ what: `remove fan's filter from ${op.dev}`, run: () => this.detachHostGw(op.dev) });
        return;
      }
      case 'hostgw-detach':
        await this.detachHostGw(op.dev);
        return;
      case 'placeholder-neigh': {
        await run(['ip', 'neigh', 'replace', formatIpv4(FAN_ONLINK_GATEWAY), 'lladdr', op.mac, 'dev', op.dev, 'nud', 'permanent']);
        undo.push({ what: `remove placeholder neighbour on ${op.dev}`, run: () => this.runner.run(['ip', 'neigh', 'del', formatIpv4(FAN_ONLINK_GATEWAY), 'dev', op.dev], { allowFailure: true }) });
        return;
      }
      case 'placeholder-neigh-del':
        await this.runner.run(['ip', 'neigh', 'del', formatIpv4(FAN_ONLINK_GATEWAY), 'dev', op.dev], { allowFailure: true });
        return;
      case 'overlay-table':
        await this.bpf.writeOverlays(op.dev, op.overlays);
        return;
      case 'route-replace':
        await run(routeArgv('replace', op.route));
        undo.push({ what: `remove route ${formatCidr(op.route.dst)}`, run: () => run(routeArgv('del', op.route)) });
        return;
      case 'route-del':
        await run(routeArgv('del', op.route));
        return;
      case 'nft-replace': {
        const before = await this.runner.run(['nft', 'list', 'table', 'ip', FAN_NFT_TABLE], { allowFailure: true });
        await this.runner.run(['nft', '-f', '-'], { input: renderNftReplace(op.nat, natKey(op.nat)) });
        undo.push({
          what: 'restore nftables table fan',
          run: () =>
            before.exitCode === 0
              ? this.runner.run(['nft', '-f', '-'], { input: `table ip ${FAN_NFT_TABLE}\ndelete table ip ${FAN_NFT_TABLE}\n${before.stdout}` })
              : run(['nft', 'delete', 'table', 'ip', FAN_NFT_TABLE]),
        });
        return;
      }
      case 'nft-delete':
        await run(['nft', 'delete', 'table', 'ip', FAN_NFT_TABLE]);
        return;
      case 'forward-accept-add':
        for (const rule of forwardRules(op.bridge, op.from).reverse()) {
          await run(iptablesArgv('-I', op.chain, rule));
          undo.push({ what: `remove ${op.chain} rule for ${op.bridge}`, run: () => run(iptablesArgv('-D', op.chain, rule)) });
        }
        return;
      case 'forward-accept-del':
        for (const listing of await this.forwardListings()) {
          for (const argv of forwardDeletes(listing.text, op.bridge)) await run(argv);
        }
        return;
      case 'dhcp-start': {
        const pid = await this.startDnsmasq(op.dhcp);
        undo.push({ what: `stop dnsmasq ${pid}`, run: () => this.stopDnsmasq(op.dhcp.bridge, pid) });
        return;
      }
      case 'dhcp-stop':
        await this.stopDnsmasq(op.bridge, op.pid);
        return;
    }
  }

  /** Removes fan's filter from an underlay device, and the clsact qdisc only when fan added it. */
  private async detachHostGw(dev: string): Promise<void> {
    await this.runner.run(['tc', 'filter', 'del', 'dev', dev, 'egress', 'pref', String(FAN_TC_PREF)], { allowFailure: true });
    const ours = await readFile(this.clsactMarker(dev), 'utf8').then(() => true, () => false);
    if (ours) {
      await this.runner.run(['tc', 'qdisc', 'del', 'dev', dev, 'clsact'], { allowFailure: true });
      await unlink(this.clsactMarker(dev)).catch(() => undefined);
    }
  }

  private async startDnsmasq(dhcp: DhcpSpec): Promise<number> {
    await rm(dhcp.pidFile, { force: true });
    await this.runner.run(dnsmasqArgv(dhcp)); // daemonises once bound; failures (bad option, port in use) exit non-zero here
    for (let i = 0; i < 100; i++) {
      const pid = Number((await readFile(dhcp.pidFile, 'utf8').catch(() => '')).trim());
      if (pid > 0) {
        await writeJsonAtomic(this.dhcpRecordPath(dhcp.bridge), { pid, key: dhcpKey(dhcp), bridge: dhcp.bridge });
        return pid;
      }
      await sleep(20);
    }
    throw new FanError(`dnsmasq for ${dhcp.bridge} started but wrote no pid file ${dhcp.pidFile}`);
  }

  /** Stops a dnsmasq fan started: only when that pid is still a dnsmasq. */
  async stopDnsmasq(bridge: string, pid: number): Promise<void> {
    if (await isDnsmasq(pid)) {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100 && (await isDnsmasq(pid)); i++) await sleep(20);
    }
    await unlink(this.dhcpRecordPath(bridge)).catch(() => undefined);
  }
}

async function isDnsmasq(pid: number): Promise<boolean> {
  const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
  return comm.trim() === 'dnsmasq';
}

/**
 * The ports of fan's bridges and, where the kernel can name it, the container end of each veth: the host end's
 * `link_netnsid` is matched with `ip netns list` (runtimes that name their namespaces: CNI runtimes, the lab), and
 * the peer is read there by its ifindex. Read-only.
 */
import { z } from 'zod';
import { type Cidr, parseIpv4 } from '../core/address/ipv4.js';
import type { CommandRunner } from '../ports/runner.js';

export interface VethPeer {
  readonly netns: string;
  readonly ifname: string;
  readonly mtu: number;
  readonly addresses: readonly Cidr[];
}

export interface BridgePort {
  readonly bridge: string;
  readonly hostIf: string;
  readonly mtu: number;
  readonly kind?: string;
  /** The container end, when its namespace has a name here. */
  readonly peer?: VethPeer;
}

const linkSchema = z.array(
  z
    .object({
      ifindex: z.number(),
      ifname: z.string(),
      mtu: z.number().optional(),
      master: z.string().optional(),
      link_index: z.number().optional(),
      link_netnsid: z.number().optional(),
      linkinfo: z.object({ info_kind: z.string().optional() }).passthrough().optional(),
      addr_info: z
        .array(
          z
            .object({ family: z.string(), local: z.string().optional(), prefixlen: z.number().optional() })
            .passthrough(),
        )
        .optional(),
    })
    .passthrough(),
);
const netnsSchema = z.array(z.object({ name: z.string(), id: z.number().optional() }).passthrough());

export async function readBridgePorts(runner: CommandRunner, bridges: readonly string[]): Promise<BridgePort[]> {
  const links = linkSchema.parse(
    JSON.parse((await runner.run(['ip', '-json', '-details', 'link', 'show'])).stdout || '[]'),
  );
  const ports = links.filter((l) => l.master !== undefined && bridges.includes(l.master));
  if (ports.length === 0) return [];
  const nsOut = await runner.run(['ip', '-json', 'netns', 'list'], { allowFailure: true });
  const namespaces = nsOut.exitCode === 0 ? netnsSchema.parse(JSON.parse(nsOut.stdout || '[]')) : [];
  const out: BridgePort[] = [];
  for (const port of ports) {
    const base = {
      bridge: port.master as string,
      hostIf: port.ifname,
      mtu: port.mtu ?? 1500,
      ...(port.linkinfo?.info_kind ? { kind: port.linkinfo.info_kind } : {}),
    };
    const ns = port.link_netnsid === undefined ? undefined : namespaces.find((n) => n.id === port.link_netnsid)?.name;
    const peer =
      ns !== undefined && port.link_index !== undefined ? await readPeer(runner, ns, port.link_index) : undefined;
    out.push({ ...base, ...(peer ? { peer } : {}) });
  }
  return out;
}

async function readPeer(runner: CommandRunner, netns: string, ifindex: number): Promise<VethPeer | undefined> {
  const out = await runner.run(['ip', '-n', netns, '-json', 'address', 'show'], { allowFailure: true });
  if (out.exitCode !== 0) return undefined;
  const link = linkSchema.parse(JSON.parse(out.stdout || '[]')).find((l) => l.ifindex === ifindex);
  if (!link) return undefined;
  const addresses = (link.addr_info ?? [])
    .filter((a) => a.family === 'inet' && a.local !== undefined)
    .map((a): Cidr => ({ address: parseIpv4(a.local as string), prefix: a.prefixlen ?? 32 }));
  return { netns, ifname: link.ifname, mtu: link.mtu ?? 1500, addresses };
}

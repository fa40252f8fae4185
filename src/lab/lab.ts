/**
 * Builds and removes the lab: simulated Fan hosts in network namespaces on one machine. Hosts share an
 * underlay switch (a bridge in its own namespace); each runs the real `fanctl up`; containers are namespaces
 * with a veth on the fan bridge. Everything is named `<lab>-…`; nothing is added to the root namespace.
 */
import { createLabVeth, root } from './shell.js';
import { mkdir, rm, writeFile, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { formatCidr, formatIpv4, network, parseIpv4 } from '../core/address/ipv4.js';
import { FanError, ConfigError, errorMessage } from '../core/errors.js';
import { requireRoot } from '../kernel/probes.js';
import { ExecRunner } from '../kernel/exec.js';
import { fastPathPeer } from '../kernel/fastpath.js';
import { decodeIngressBlocks } from '../codec/tc-json.js';
import { containerMac } from '../core/bind/binding.js';
import type { CommandRunner } from '../ports/runner.js';
import {
  type LabContainer,
  type LabHost,
  type LabOptions,
  type LabTopology,
  labPolicy,
  labTopology,
} from './topology.js';

export const FANCTL = fileURLToPath(new URL('../bin/fanctl.js', import.meta.url));

export async function labNamespaces(prefix: string): Promise<string[]> {
  const out = await root.run(['ip', '-json', 'netns', 'list'], { allowFailure: true });
  const list = out.stdout.trim() ? (JSON.parse(out.stdout) as { name: string }[]) : [];
  return list.map((n) => n.name).filter((n) => n.startsWith(`${prefix}-`));
}

/** Runs fanctl inside a lab host, with that host's own state directory. */
export function fanctl(
  host: LabHost,
  args: readonly string[],
  options: { allowFailure?: boolean } = {},
): ReturnType<CommandRunner['run']> {
  return root.run(
    ['ip', 'netns', 'exec', host.ns, 'env', `FAN_STATE_DIR=${host.stateDir}`, process.execPath, FANCTL, ...args],
    options,
  );
}

const UDHCPC_SCRIPT = `#!/bin/sh
# udhcpc hook for lab containers: apply the lease (address, router, MTU) with ip.
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
    [ -n "$router" ] && ip route replace default via "$router" dev "$interface"
    ;;
esac
exit 0
`;

export interface LabProgress {
  (message: string): void;
}

export async function labUp(options: LabOptions, progress: LabProgress = () => {}): Promise<LabTopology> {
  requireRoot('fanctl lab');
  const topo = labTopology(options);
  const existing = await labNamespaces(topo.prefix);
  if (existing.length > 0) {
    throw new ConfigError(
      `lab ${topo.prefix} already exists (${existing.length} namespaces)`,
      `run fanctl lab down --name ${topo.prefix} first`,
    );
  }
  try {
    await mkdir(topo.stateDir, { recursive: true });
    await writeFile(`${topo.stateDir}/lab.json`, JSON.stringify(options, null, 2));
    await writeFile(`${topo.stateDir}/udhcpc.sh`, UDHCPC_SCRIPT, { mode: 0o755 });
    await buildUnderlay(topo, progress);
    for (const host of topo.hosts) {
      progress(`${host.name}: fanctl up`);
      await mkdir(host.stateDir, { recursive: true });
      const underlay = formatCidr(network(host.underlay));
      for (const overlay of options.overlays) {
        await fanctl(host, [
          'up',
          '-o',
          overlay,
          '-u',
          underlay,
          '--type',
          options.type,
          ...(options.dhcp ? ['--dhcp'] : []),
        ]);
      }
      // --group: the same policy on every host, before its containers attach.
      const policy = labPolicy(options);
      if (policy !== undefined) {
        await writeFile(`${topo.stateDir}/policy.yaml`, policy);
        await fanctl(host, ['policy', 'apply', `${topo.stateDir}/policy.yaml`]);
      }
      for (const container of host.containers) {
        progress(`${container.name}: attach ${options.dhcp ? '(DHCP)' : formatIpv4(container.address)}`);
        await attachContainer(topo, host, container);
      }
    }
    return topo;
  } catch (error) {
    progress(`failed: ${errorMessage(error)}; removing the lab`);
    await labDown(topo.prefix);
    throw error;
  }
}

async function buildUnderlay(topo: LabTopology, progress: LabProgress): Promise<void> {
  const mtu = topo.options.underlayMtu;
  const namespaces = [
    topo.switchNs,
    topo.outsideNs,
    ...topo.hosts.flatMap((h) => [h.ns, ...h.containers.map((c) => c.ns)]),
  ];
  progress(`creating ${namespaces.length} network namespaces`);
  for (const ns of namespaces) {
    await root.run(['ip', 'netns', 'add', ns]);
    await root.run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  }
  await root.run(['ip', '-n', topo.switchNs, 'link', 'add', 'br0', 'type', 'bridge']);
  await root.run(['ip', '-n', topo.switchNs, 'link', 'set', 'br0', 'up']);
  const plug = async (ns: string, switchIf: string): Promise<void> => {
    await createLabVeth({ name: 'eth0', ns }, { name: switchIf, ns: topo.switchNs }, mtu);
    await root.run(['ip', '-n', topo.switchNs, 'link', 'set', switchIf, 'master', 'br0', 'up']);
    await root.run(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
  };
  for (const host of topo.hosts) {
    await plug(host.ns, host.switchIf);
    await root.run(['ip', '-n', host.ns, 'address', 'add', formatCidr(host.underlay), 'dev', 'eth0']);
    await root.run(['ip', '-n', host.ns, 'route', 'add', formatCidr(network(topo.outside)), 'dev', 'eth0']);
  }
  await plug(topo.outsideNs, 'out');
  await root.run(['ip', '-n', topo.outsideNs, 'address', 'add', formatCidr(topo.outside), 'dev', 'eth0']);
  const first = topo.hosts[0];
  if (first)
    await root.run(['ip', '-n', topo.outsideNs, 'route', 'add', formatCidr(network(first.underlay)), 'dev', 'eth0']);
}

export async function attachContainer(topo: LabTopology, host: LabHost, c: LabContainer): Promise<void> {
  // A static container is bound (MAC and address) before its veth exists, as fan's own attach paths do; a DHCP one
  // takes whatever dnsmasq gives it, so it stays an unbound port (docs/anti-spoofing.md).
  const mac = topo.options.dhcp ? undefined : containerMac(c.address);
  if (mac !== undefined) await fanctl(host, ['port', 'bind', c.hostIf, mac, formatIpv4(c.address)]);
  await createLabVeth(
    { name: 'eth0', ns: c.ns, ...(mac !== undefined ? { mac } : {}) },
    { name: c.hostIf, ns: host.ns },
    c.mtu,
  );
  await root.run(['ip', '-n', host.ns, 'link', 'set', c.hostIf, 'master', c.bridge, 'up']);
  await root.run(['ip', '-n', c.ns, 'link', 'set', 'eth0', 'up']);
  if (topo.options.dhcp) {
    await root.run(
      [
        'ip',
        'netns',
        'exec',
        c.ns,
        'busybox',
        'udhcpc',
        '-i',
        'eth0',
        '-n',
        '-q',
        '-f',
        '-t',
        '10',
        '-T',
        '1',
        '-O',
        'mtu',
        '-s',
        `${topo.stateDir}/udhcpc.sh`,
      ],
      { timeoutMs: 30_000 },
    );
  } else {
    await root.run(['ip', '-n', c.ns, 'address', 'add', `${formatIpv4(c.address)}/${c.prefix}`, 'dev', 'eth0']);
    await root.run(['ip', '-n', c.ns, 'route', 'add', 'default', 'via', formatIpv4(c.gateway), 'dev', 'eth0']);
  }
  await rememberFastPathPeer(host, c);
}

/** The address a container really has (with DHCP it is the lease's). */
export async function containerAddress(c: LabContainer): Promise<string> {
  const out = await root.run(['ip', '-n', c.ns, '-json', '-4', 'address', 'show', 'dev', 'eth0']);
  const local = (JSON.parse(out.stdout) as { addr_info?: { local?: string }[] }[])[0]?.addr_info?.[0]?.local;
  if (!local) throw new FanError(`container ${c.name} has no IPv4 address`);
  return local;
}

/**
 * Removes every namespace named `<prefix>-…` (also after a crash, when no state is left) and the processes
 * running in them (dnsmasq, iperf3: all started by the lab or by fanctl inside it).
 */
export async function labDown(prefix: string): Promise<string[]> {
  requireRoot('fanctl lab');
  const namespaces = await labNamespaces(prefix);
  for (const ns of namespaces) {
    const pids = await root.run(['ip', 'netns', 'pids', ns], { allowFailure: true });
    for (const pid of pids.stdout.split(/\s+/).filter(Boolean).map(Number)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  for (const ns of namespaces) await root.run(['ip', 'netns', 'del', ns], { allowFailure: true });
  await rm(`/run/fanlab/${prefix}`, { recursive: true, force: true });
  return namespaces;
}

export async function loadLab(name: string): Promise<LabTopology> {
  const text = await readFile(`/run/fanlab/${name}/lab.json`, 'utf8').catch(() => undefined);
  if (text === undefined) throw new ConfigError(`no lab named ${name} is up`, 'start one with fanctl lab up');
  return labTopology(JSON.parse(text) as LabOptions);
}

/**
 * A fast path's state for a lab container (its address is static, or the lease DHCP gave it): its port in the tc
 * shared block its bridge is bound to, and the accelerator entry. Read from the bridge, not from the lab's type:
 * the bench adds fans of other types to a lab.
 */
async function rememberFastPathPeer(host: LabHost, c: LabContainer): Promise<void> {
  const qdiscs = await root.run(['ip', 'netns', 'exec', host.ns, 'tc', '-j', 'qdisc', 'show']);
  const block = decodeIngressBlocks(qdiscs.stdout).get(c.bridge);
  if (block === undefined) return; // not a fast path's bridge
  const link = await root.run(['ip', '-n', c.ns, '-j', 'link', 'show', 'eth0']);
  const mac = (JSON.parse(link.stdout) as { address?: string }[])[0]?.address;
  if (mac === undefined) return;
  const to = { hostIf: c.hostIf, mac, block };
  await fastPathPeer(new ExecRunner(host.ns), parseIpv4(await containerAddress(c)), to);
}

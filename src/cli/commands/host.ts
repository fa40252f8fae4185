/** `fanctl up`, `down`, `show`: argument handling and printing around the use cases in src/app/host.ts. */
import { type FanSpec, parseFanWords } from '../../core/config/fan-spec.js';
import { requireValidConfig } from '../../core/config/fan-file.js';
import { ConfigError } from '../../core/errors.js';
import { type ChangeReport, type HostDeps, type HostStatus, downFans, hostStatus, upFans } from '../../app/host.js';
import type { TextFiles } from '../../ports/host.js';
import { readFanConfig } from './config-check.js';
import { requireRoot } from '../../kernel/probes.js';
import Table from 'cli-table3';
import { describeOwner } from '../../core/attach/attachments.js';
import { ubuntuRow } from '../output.js';

export interface FanWordOptions {
  overlay?: string;
  underlay?: string;
  dhcp?: boolean;
  dhcpRange?: string;
  bridge?: string;
  hostReserve?: string;
  type?: string;
}

/** Commander's parsed options and the leftover words, back into one word list for the shared grammar. */
export function fanWords(words: readonly string[], opts: FanWordOptions): string[] {
  const out = [...words];
  if (opts.overlay !== undefined) out.push('-o', opts.overlay);
  if (opts.underlay !== undefined) out.push('-u', opts.underlay);
  if (opts.dhcp) out.push('--dhcp');
  if (opts.dhcpRange !== undefined) out.push('--dhcp-range', opts.dhcpRange);
  if (opts.bridge !== undefined) out.push('--bridge', opts.bridge);
  if (opts.hostReserve !== undefined) out.push('--host-reserve', opts.hostReserve);
  if (opts.type !== undefined) out.push('--type', opts.type);
  return out;
}

export async function upCommand(
  words: string[],
  opts: FanWordOptions & { all?: boolean; config: string },
  deps: HostDeps,
  files: TextFiles,
): Promise<ChangeReport> {
  if (opts.all) {
    if (fanWords(words, opts).length > 0)
      throw new ConfigError('up -a takes no fan arguments', "use either -a or one fan's arguments");
    const specs = requireValidConfig(await readFanConfig(files, opts.config)).map((l) => l.spec);
    requireRoot('fanctl up');
    return upFans(specs, opts.config, deps);
  }
  const spec = parseFanWords(fanWords(words, opts));
  requireRoot('fanctl up');
  return upFans([spec], 'cli', deps);
}

/**
 * Down selects fans by overlay, with the words `up` takes (checked the same way: a stray word is an error); the
 * underlay may be left out, since the fan is found by its overlay.
 */
export function downSelection(words: readonly string[]): FanSpec {
  try {
    return parseFanWords(words);
  } catch (error) {
    if (!(error instanceof ConfigError) || error.message !== 'no underlay given') throw error;
    return parseFanWords([...words, '-u', 'default/8']);
  }
}

export async function downCommand(
  words: string[],
  opts: FanWordOptions & { all?: boolean; every?: boolean; force?: boolean; config: string },
  deps: HostDeps,
): Promise<ChangeReport> {
  const force = opts.force ?? false;
  const given = fanWords(words, opts);
  if ((opts.every || opts.all) && given.length > 0) {
    throw new ConfigError(
      `down ${opts.every ? '-e' : '-a'} takes no fan arguments (got "${given.join(' ')}")`,
      "use either -e/-a or one fan's -o OVERLAY",
    );
  }
  if (!opts.every && !opts.all && given.length === 0) {
    throw new ConfigError(
      'down needs a fan',
      'give -o OVERLAY [-u UNDERLAY], or -a (fans from the config file), or -e (every fan)',
    );
  }
  const select = opts.every
    ? { all: true as const }
    : opts.all
      ? { source: opts.config }
      : { specs: [downSelection(given)] };
  requireRoot('fanctl down');
  return downFans({ select, force }, deps);
}

export function showCommand(deps: HostDeps): Promise<HostStatus> {
  return hostStatus(deps);
}

/** Ubuntu's `fanctl show` table. */
export function renderShow(status: HostStatus): string {
  const rows = [ubuntuRow(['Bridge', 'Underlay', 'Overlay', 'Flags'])];
  for (const fan of status.fans) {
    rows.push(
      ubuntuRow([fan.bridge, `${fan.underlayHost}/${fan.underlay.split('/')[1] ?? ''}`, fan.overlay, fan.flags]),
    );
  }
  return `${rows.join('\n')}\n`;
}

/**
 * `fanctl status`: one row per fan with what an operator checks first (slice, gateway, MTU, data plane, DHCP,
 * attached containers, the eBPF counters), then the tunnel and the firewall.
 */
export function renderStatus(status: HostStatus): string {
  if (status.fans.length === 0) return 'no fan is up on this host (fanctl up -o OVERLAY -u UNDERLAY)\n';
  const table = new Table({
    head: [
      'bridge',
      'overlay → slice',
      'gateway',
      'underlay (device)',
      'type',
      'mtu',
      'dhcp',
      'ports',
      'tx pkts',
      'rx pkts',
      'dropped',
    ],
    style: { head: [], border: [] },
  });
  for (const fan of status.fans) {
    const c = fan.counters;
    table.push([
      `${fan.bridge}${fan.bridgeUp ? '' : ' (DOWN)'}`,
      `${fan.overlay} → ${fan.slice}`,
      fan.gateway,
      `${fan.underlayHost} (${fan.underlayDevice})`,
      fan.type === 'vxlan' ? `vxlan ${fan.vni}` : fan.type,
      String(fan.mtu),
      fan.dhcp.enabled ? (fan.dhcp.pid ? `pid ${fan.dhcp.pid}` : 'NOT RUNNING') : '-',
      String(fan.attached.length),
      String(c.txPackets),
      String(c.rxPackets),
      [c.txDropLocal ? `local ${c.txDropLocal}` : '', c.rxDropSpoof ? `spoofed ${c.rxDropSpoof}` : '']
        .filter(Boolean)
        .join(', ') || '0',
    ]);
  }
  const lines = [table.toString()];
  const containers = status.fans.flatMap((f) => f.containers);
  if (containers.length > 0) {
    const list = new Table({
      head: ['bridge', 'address', 'interface', 'runtime', 'owner', 'problems'],
      style: { head: [], border: [] },
    });
    for (const c of containers) {
      const ifs = [c.hostIf, c.ifname].filter((x) => x !== undefined).join(' → ') || '-';
      list.push([c.bridge, c.address ?? '-', ifs, c.runtime, describeOwner(c), c.problems.join('; ') || '-']);
    }
    lines.push(list.toString());
  }
  if (status.tunnel) {
    const programs = status.tunnel.programs.map((p) => `${p.direction} #${p.progId}`).join(', ') || 'NONE ATTACHED';
    lines.push(
      `tunnel ${status.tunnel.name}: ${status.tunnel.up ? 'up' : 'DOWN'}, mtu ${status.tunnel.mtu}, ` +
        `eBPF ${programs}, unmatched drops ${status.tunnel.unmatched.txDropNomatch} sent, ` +
        `${status.tunnel.unmatched.rxDropSpoof} received (unknown VNI, not IPv4)`,
    );
  }
  lines.push(
    `nftables table ip fan: ${status.nftTable ? 'loaded' : 'MISSING'}; ` +
      `iptables ACCEPT rules: ${status.forwardRules.join(', ') || 'none'}`,
  );
  if (status.antiSpoofing) {
    const a = status.antiSpoofing;
    lines.push(
      `anti-spoofing drops: port binding ${a.binding}, ` +
        `forwarded ${a.forward}, into the host ${a.input} (docs/anti-spoofing.md)`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export function renderChanges(report: ChangeReport): string {
  return report.changes.length === 0
    ? 'no changes: the host is already as configured\n'
    : `${report.changes.map((c) => `  ${c}`).join('\n')}\n`;
}

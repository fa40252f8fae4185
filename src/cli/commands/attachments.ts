/** `fanctl attachments`: what is attached to each fan bridge, one row per address or host veth. */
import Table from 'cli-table3';
import { describeOwner } from '../../core/attach/attachments.js';
import { StateError } from '../../core/errors.js';
import { type BridgeAttachments, listAttachments } from '../../app/attachments.js';
import type { HostReader, TextFiles } from '../../ports/host.js';

export async function attachmentsCommand(
  opts: { readonly bridge?: string },
  deps: { readonly host: HostReader; readonly files: TextFiles; readonly stateDir: string },
): Promise<BridgeAttachments[]> {
  const list = await listAttachments(deps, opts.bridge !== undefined ? { bridge: opts.bridge } : {});
  if (opts.bridge !== undefined && list.length === 0) {
    throw new StateError(
      `no fan bridge ${opts.bridge} on this host (no fan up, no lease table)`,
      'list the bridges with fanctl show',
    );
  }
  return list;
}

export function renderAttachments(list: readonly BridgeAttachments[]): string {
  if (list.length === 0)
    return 'no fan is up on this host and no lease table is left (fanctl up -o OVERLAY -u UNDERLAY)\n';
  const out: string[] = [];
  for (const b of list) {
    out.push(
      `${b.bridge}${b.overlay !== undefined ? ` (fan ${b.overlay})` : ' (fan not up)'}: ` +
        `${b.attachments.length} attachment(s)`,
    );
    if (b.attachments.length === 0) continue;
    const table = new Table({
      head: ['address', 'runtime', 'host if', 'ifname', 'owner', 'id', 'problems'],
      style: { head: [], border: [] },
    });
    for (const a of b.attachments) {
      table.push([
        a.address ?? '-',
        a.runtime,
        a.hostIf ?? '-',
        a.ifname ?? '-',
        describeOwner(a),
        (a.containerId ?? a.endpointId ?? a.mac ?? '-').slice(0, 12),
        a.problems.join('; ') || '-',
      ]);
    }
    out.push(table.toString());
  }
  return `${out.join('\n')}\n`;
}

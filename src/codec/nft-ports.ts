/**
 * fan's nftables table for published Docker ports, `ip fan-ports`, rendered whole from the list of published
 * endpoints and loaded in one `nft -f` transaction (create-if-absent, delete, define). Its comment marks it as
 * fan's: a table of that name without the mark is someone else's and is never replaced.
 *
 * For each binding: prerouting DNAT for traffic from outside (to any local address, or to the given host IP),
 * and output DNAT for connections the host itself opens to its own addresses (not to 127/8: the kernel would
 * not route a loopback source to the bridge).
 */
import { formatIpv4 } from '../core/address/ipv4.js';
import type { PublishedEndpoint, PublishedPort } from '../core/attach/published-ports.js';

export const FAN_PORTS_TABLE = 'fan-ports';
export const FAN_PORTS_MARK = 'managed by fanctl docker-plugin: published Docker ports';

function rule(e: PublishedEndpoint, p: PublishedPort, output: boolean): string {
  const to = p.hostIp === undefined ? 'fib daddr type local' : `ip daddr ${formatIpv4(p.hostIp)}`;
  const local = output && p.hostIp === undefined ? 'ip daddr != 127.0.0.0/8 ' : '';
  return (
    `\t\t${local}${to} ${p.proto} dport ${p.hostPort} counter dnat to ` +
    `${formatIpv4(e.address)}:${p.port} comment "fan: docker ${e.endpointId.slice(0, 12)}"`
  );
}

export function renderPortTable(entries: readonly PublishedEndpoint[]): string {
  const ports = entries.flatMap((e) => e.ports.map((p) => [e, p] as const));
  const lines = [
    `table ip ${FAN_PORTS_TABLE} {`,
    `\tcomment "${FAN_PORTS_MARK}"`,
    '\tchain prerouting {',
    '\t\ttype nat hook prerouting priority dstnat; policy accept;',
    ...ports.map(([e, p]) => rule(e, p, false)),
    '\t}',
    '\tchain output {',
    '\t\ttype nat hook output priority -100; policy accept;',
    ...ports.map(([e, p]) => rule(e, p, true)),
    '\t}',
    '}',
  ];
  return `${lines.join('\n')}\n`;
}

/** The whole table replaced in one transaction. */
export function renderPortTableReplace(entries: readonly PublishedEndpoint[]): string {
  return `table ip ${FAN_PORTS_TABLE}\ndelete table ip ${FAN_PORTS_TABLE}\n${renderPortTable(entries)}`;
}

/** True when `nft list table ip fan-ports` shows fan's mark (the table's own comment line). */
export function isFanPortTable(listing: string): boolean {
  return listing.split('\n').some((l) => l.trim() === `comment "${FAN_PORTS_MARK}"`);
}

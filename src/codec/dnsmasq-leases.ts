/**
 * dnsmasq's lease file (`--dhcp-leasefile`): one lease a line, `EXPIRY MAC ADDRESS HOSTNAME CLIENT-ID`, where
 * EXPIRY is a Unix time (0: never expires) and `*` stands for an unknown hostname or client id. Pure.
 */
export interface DnsmasqLease {
  /** Unix seconds; 0 for an infinite lease. */
  readonly expiry: number;
  readonly mac: string;
  readonly address: string;
  readonly hostname?: string;
  readonly clientId?: string;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** The IPv4 leases of the file; lines that are not leases (DHCPv6 `duid` lines, garbage) are skipped. */
export function parseDnsmasqLeases(text: string): DnsmasqLease[] {
  const leases: DnsmasqLease[] = [];
  for (const line of text.split('\n')) {
    const [expiry, mac, address, hostname, clientId] = line.trim().split(/\s+/);
    if (
      expiry === undefined ||
      mac === undefined ||
      address === undefined ||
      !/^\d+$/.test(expiry) ||
      !IPV4.test(address)
    )
      continue;
    leases.push({
      expiry: Number(expiry),
      mac: mac.toLowerCase(),
      address,
      ...(hostname !== undefined && hostname !== '*' ? { hostname } : {}),
      ...(clientId !== undefined && clientId !== '*' ? { clientId } : {}),
    });
  }
  return leases;
}

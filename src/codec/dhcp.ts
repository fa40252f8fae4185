/**
 * The two DHCP messages `fanctl doctor` needs to ask a fan's dnsmasq whether it answers: a DHCPDISCOVER with the
 * broadcast flag (so the offer comes back as a broadcast the host itself receives) and the decoding of the reply.
 * Pure: bytes in, bytes out.
 */
const MAGIC = 0x63825363;
const OPTIONS_AT = 240;

export const DHCP_OFFER = 2;

/** A minimal DHCPDISCOVER: BOOTREQUEST, Ethernet, transaction `xid`, client MAC `mac` (6 bytes), broadcast flag. */
export function encodeDiscover(xid: number, mac: readonly number[]): Uint8Array {
  const p = new Uint8Array(OPTIONS_AT + 4);
  const view = new DataView(p.buffer);
  p[0] = 1; // BOOTREQUEST
  p[1] = 1; // Ethernet
  p[2] = 6; // hardware address length
  view.setUint32(4, xid >>> 0);
  view.setUint16(10, 0x8000); // broadcast flag
  mac.slice(0, 6).forEach((b, i) => (p[28 + i] = b));
  view.setUint32(236, MAGIC);
  p.set([53, 1, 1, 255], OPTIONS_AT); // message type DISCOVER, end
  return p;
}

export interface DhcpReply {
  readonly xid: number;
  readonly messageType?: number;
  /** The address offered (yiaddr). */
  readonly yiaddr: string;
  /** Option 54, the server identifier. */
  readonly server?: string;
}

/** Decodes a BOOTREPLY; undefined when the bytes are not one. */
export function decodeReply(bytes: Uint8Array): DhcpReply | undefined {
  if (bytes.length < OPTIONS_AT || bytes[0] !== 2) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(236) !== MAGIC) return undefined;
  const ip = (at: number): string => [...bytes.subarray(at, at + 4)].join('.');
  let messageType: number | undefined;
  let server: string | undefined;
  for (let i = OPTIONS_AT; i < bytes.length; ) {
    const code = bytes[i] ?? 255;
    if (code === 255) break;
    if (code === 0) {
      i++;
      continue;
    }
    const len = bytes[i + 1] ?? 0;
    if (code === 53 && len >= 1) messageType = bytes[i + 2];
    if (code === 54 && len >= 4) server = ip(i + 2);
    i += 2 + len;
  }
  return {
    xid: view.getUint32(4),
    yiaddr: ip(16),
    ...(messageType !== undefined ? { messageType } : {}),
    ...(server !== undefined ? { server } : {}),
  };
}

/**
 * Asks the DHCP server on a fan bridge for an offer, from the host itself: a DHCPDISCOVER sent to the bridge's
 * broadcast address leaves on the bridge and the kernel loops a copy back to local sockets as received on it, so
 * dnsmasq (bound to the bridge) answers; its broadcast offer reaches our socket on port 68 the same way. An offer
 * commits nothing: dnsmasq only records a lease on a later REQUEST.
 */
import { createSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { DHCP_OFFER, type DhcpReply, decodeReply, encodeDiscover } from '../codec/dhcp.js';

export type DhcpProbe = { readonly offer: DhcpReply } | { readonly error: string };

/**
 * One DISCOVER to `broadcast` (e.g. 250.3.4.255), waiting up to `timeoutMs` for the matching offer. dnsmasq pings
 * an address before it first offers it (up to about 3 s); the client MAC is fixed per broadcast address, so later
 * probes get the address it already checked, at once.
 */
export function dhcpDiscover(broadcast: string, timeoutMs = 4000): Promise<DhcpProbe> {
  const xid = randomInt(1, 2 ** 31);
  // A locally administered MAC no container has (0e:fa:dd + the last three octets of the broadcast address).
  const mac = [0x0e, 0xfa, 0xdd, ...broadcast.split('.').slice(1).map(Number)];
  return new Promise((resolve) => {
    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    const done = (result: DhcpProbe): void => {
      clearTimeout(timer);
      socket.close();
      resolve(result);
    };
    const timer = setTimeout(() => done({ error: `no DHCP offer within ${timeoutMs} ms` }), timeoutMs);
    socket.on('error', (error) => done({ error: error.message }));
    socket.on('message', (message) => {
      const reply = decodeReply(message);
      if (reply?.xid === xid && reply.messageType === DHCP_OFFER) done({ offer: reply });
    });
    socket.bind(68, () => {
      socket.setBroadcast(true);
      socket.send(encodeDiscover(xid, mac), 67, broadcast, (error) => {
        if (error) done({ error: error.message });
      });
    });
  });
}

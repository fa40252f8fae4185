/**
 * host-gw: no encapsulation, for hosts on one L2 segment. The overlay route sits on the underlay device with an
 * on-link placeholder next hop whose neighbour entry is the device's own MAC; an eBPF program on the device's egress
 * recognises that MAC and hands each packet to the neighbour subsystem for the computed host (bpf_redirect_neigh),
 * so the underlay's ordinary ARP finds the peer. Full MTU, no per-peer routes.
 */
import type { Fan } from '../../core/config/resolve.js';
import { ConfigError } from '../../core/errors.js';
import { FAN_ONLINK_GATEWAY, type DataplaneDevice } from '../../core/model/host-state.js';
import type { DataplaneBackend } from '../backend.js';
import { overlayEntry } from '../overlay-entry.js';

export const hostGwBackend: DataplaneBackend = {
  type: 'host-gw',
  wireFormat: 'host-gw',
  overhead: 0,
  peerDevice: (fan) => fan.device,
  devices(fans: readonly Fan[]): DataplaneDevice[] {
    const devices = [...new Set(fans.map((f) => f.device))];
    return devices.map((dev) => {
      const onDev = fans.filter((f) => f.device === dev);
      const mac = onDev[0]?.deviceMac;
      if (mac === undefined) {
        throw new ConfigError(
          `underlay device ${dev} has no MAC address`,
          'host-gw needs an Ethernet underlay; use --type vxlan',
        );
      }
      return {
        backend: 'host-gw',
        dev,
        programs: [{ direction: 'egress', section: 'tc/hostgw' }],
        overlays: onDev.map(overlayEntry),
        neighbour: { address: FAN_ONLINK_GATEWAY, mac },
      };
    });
  },
};

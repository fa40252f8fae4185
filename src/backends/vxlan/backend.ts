/**
 * VXLAN (Ubuntu's encapsulation, UDP 8472, VNI = overlay >> 8): ONE collect-metadata tunnel device for every vxlan
 * fan, with two eBPF programs on its clsact qdisc. Egress computes each packet's underlay host with the Fan formula
 * and sets the tunnel key; ingress accepts only our VNIs from the host the inner source maps to.
 */
import type { Fan } from '../../core/config/resolve.js';
import { FAN_ALIAS_PREFIX, type DataplaneDevice } from '../../core/model/host-state.js';
import type { DataplaneBackend } from '../backend.js';
import { overlayEntry } from '../overlay-entry.js';

export const TUNNEL_DEVICE = 'fan-vxlan';
/** Every fan tunnel has this MAC; the egress program writes a per-host source MAC (see bpf/fan.bpf.c). */
export const TUNNEL_MAC = '0e:fa:00:00:00:01';
export const VXLAN_PORT = 8472;
/** Outer Ethernet is not counted: outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const VXLAN_OVERHEAD = 50;

export const vxlanBackend: DataplaneBackend = {
  type: 'vxlan',
  wireFormat: 'vxlan',
  overhead: VXLAN_OVERHEAD,
  peerDevice: () => TUNNEL_DEVICE,
  devices(fans: readonly Fan[]): DataplaneDevice[] {
    if (fans.length === 0) return [];
    return [
      {
        backend: 'vxlan',
        dev: TUNNEL_DEVICE,
        link: {
          type: 'vxlan',
          name: TUNNEL_DEVICE,
          // One tunnel serves every vxlan fan: it must carry the largest of their packets.
          mtu: Math.max(...fans.map((f) => f.deviceMtu - VXLAN_OVERHEAD)),
          alias: `${FAN_ALIAS_PREFIX} vxlan tunnel (eBPF-computed destinations)`,
          mac: TUNNEL_MAC,
          port: VXLAN_PORT,
        },
        programs: [
          { direction: 'egress', section: 'tc/egress' },
          { direction: 'ingress', section: 'tc/ingress' },
        ],
        overlays: fans.map(overlayEntry),
      },
    ];
  },
};

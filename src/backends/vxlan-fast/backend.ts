/**
 * vxlan-fast: the vxlan fan's wire format, with the common case done in eBPF (bpf/vxlan-fast.c). Routed IPv4
 * packets from a container to another host's container are encapsulated on the container's port (the bridge's tc
 * shared block) and leave by the underlay device directly; VXLAN packets to a local container are decapsulated on
 * the underlay device's tc ingress and delivered into the container. Everything the fast path does not take (ARP,
 * non-IPv4, traffic off the overlay, fragments, traffic while an isolation policy is loaded) keeps the vxlan
 * backend's path through the `fan-vxlan` device, which this backend sets up exactly as the vxlan backend does. The
 * frames on the wire are the same either way, so vxlan and vxlan-fast hosts share one fan. See docs/fast-path.md.
 */
import type { Fan } from '../../core/config/resolve.js';
import type { DataplaneDevice } from '../../core/model/host-state.js';
import type { DataplaneBackend } from '../backend.js';
import { overlayEntry } from '../overlay-entry.js';
import { portBlock } from '../port-block.js';
import { TUNNEL_DEVICE, VXLAN_OVERHEAD, vxlanBackend } from '../vxlan/backend.js';

export const FAST_TX_SECTION = 'tc/fp_tx';
export const FAST_RX_SECTION = 'tc/fp_rx';

/** The fast path's own devices: each bridge (encapsulation) and each underlay device (decapsulation). */
export function fastPathDevices(fans: readonly Fan[]): DataplaneDevice[] {
  if (fans.length === 0) return [];
  // Every program maps every vxlan-fast overlay: a container of one fan may talk to another fan's overlay.
  const overlays = fans.map(overlayEntry);
  const bridges = fans.map(
    (fan): DataplaneDevice => ({
      backend: 'vxlan-fast',
      dev: fan.bridge,
      programs: [{ direction: 'ingress', section: FAST_TX_SECTION }],
      block: portBlock(fan),
      overlays,
    }),
  );
  const underlays = [...new Set(fans.map((f) => f.device))].map(
    (dev): DataplaneDevice => ({
      backend: 'vxlan-fast',
      dev,
      programs: [{ direction: 'ingress', section: FAST_RX_SECTION }],
      overlays,
    }),
  );
  return [...bridges, ...underlays];
}

export const vxlanFastBackend: DataplaneBackend = {
  type: 'vxlan-fast',
  wireFormat: vxlanBackend.wireFormat,
  overhead: VXLAN_OVERHEAD,
  peerDevice: () => TUNNEL_DEVICE,
  devices(fans: readonly Fan[]): DataplaneDevice[] {
    // The kernel tunnel first: it is the fallback, and a route into it exists from the start.
    return [...vxlanBackend.devices(fans), ...fastPathDevices(fans)];
  },
  counterDevices: (fan) => [TUNNEL_DEVICE, fan.bridge, fan.device],
  portBlock,
};

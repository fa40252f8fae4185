/**
 * host-gw-fast: host-gw's frames (no encapsulation, hosts on one L2 segment), with the common case done in eBPF
 * (bpf/host-gw-fast.c). Routed IPv4 packets from a container to another host's container get the computed host's
 * MACs on the container's port (the bridge's tc shared block) and leave by the underlay device directly; packets
 * from another host's container to a local one go from the underlay device's tc ingress straight into the
 * container. Everything else (ARP, non-IPv4, traffic off the overlay or to the host, traffic while an isolation
 * policy is loaded) keeps host-gw's kernel path, which this backend sets up exactly as host-gw does, so host-gw and
 * host-gw-fast hosts share one fan.
 * See docs/fast-path.md.
 */
import type { Fan } from '../../core/config/resolve.js';
import type { DataplaneDevice } from '../../core/model/host-state.js';
import type { DataplaneBackend } from '../backend.js';
import { hostGwBackend } from '../host-gw/backend.js';
import { overlayEntry } from '../overlay-entry.js';
import { portBlock } from '../port-block.js';

export const GW_TX_SECTION = 'tc/fp_gw_tx';
export const GW_RX_SECTION = 'tc/fp_gw_rx';
const TYPE = 'host-gw-fast';

export const hostGwFastBackend: DataplaneBackend = {
  type: TYPE,
  wireFormat: hostGwBackend.wireFormat,
  overhead: hostGwBackend.overhead,
  peerDevice: (fan) => hostGwBackend.peerDevice(fan),
  devices(fans: readonly Fan[]): DataplaneDevice[] {
    if (fans.length === 0) return [];
    // host-gw's underlay devices (egress program, placeholder neighbour) with the receiving program beside it.
    const underlays = hostGwBackend.devices(fans).map(
      (device): DataplaneDevice => ({
        ...device,
        backend: TYPE,
        programs: [...device.programs, { direction: 'ingress', section: GW_RX_SECTION }],
      }),
    );
    // Every bridge maps every host-gw-fast overlay: a container of one fan may talk to another fan's overlay.
    const overlays = fans.map(overlayEntry);
    const bridges = fans.map(
      (fan): DataplaneDevice => ({
        backend: TYPE,
        dev: fan.bridge,
        programs: [{ direction: 'ingress', section: GW_TX_SECTION }],
        block: portBlock(fan),
        overlays,
      }),
    );
    return [...underlays, ...bridges];
  },
  counterDevices: (fan) => [fan.device, fan.bridge],
  portBlock,
};

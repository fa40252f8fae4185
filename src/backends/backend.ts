/**
 * A data-plane backend: how one kind of fan carries overlay traffic between hosts. Each backend lives in a folder
 * of its own and says, as pure data, what it needs on the host: its MTU overhead, the device the overlay route
 * points into, and the devices with the eBPF programs and tables it runs. The host plan, the diff and the kernel
 * layer handle every backend's devices the same way, so a new backend is a new folder and one line in registry.ts.
 */
import type { Fan } from '../core/config/resolve.js';
import type { DataplaneDevice } from '../core/model/host-state.js';

export interface DataplaneBackend {
  /** The `--type` that selects it. */
  readonly type: string;
  /**
   * What its frames look like on the wire: a fast path shares its kernel path's (vxlan-fast: vxlan), so hosts of
   * one fan may mix them, and a target stated for a wire format applies to both.
   */
  readonly wireFormat: 'vxlan' | 'host-gw';
  /** Bytes of encapsulation per packet: bridge and container MTU are the underlay device's MTU less this. */
  readonly overhead: number;
  /** The device the overlay's route points into on this host. */
  peerDevice(fan: Fan): string;
  /** Devices, programs and tables for all fans of this type on the host, in table order (first match wins). */
  devices(fans: readonly Fan[]): DataplaneDevice[];
  /**
   * Devices whose programs count this fan's packets (summed per overlay row); the peer device alone when absent.
   * A fast path counts on the devices it runs on as well as on the fallback tunnel.
   */
  counterDevices?(fan: Fan): readonly string[];
  /**
   * A fast path's: the tc shared block of the fan's bridge (src/backends/port-block.ts). Its programs take a
   * container's packets on the container's port and deliver through the accelerator map (address → the container's
   * host veth), so only for such a fan do the attach paths spend the processes to bind the port to the block and to
   * enter the container in the map.
   */
  portBlock?(fan: Fan): number;
}

/** The row of the eBPF overlay table (struct fan_overlay in bpf/fan.bpf.c) that every backend's programs read. */
import { mask } from '../core/address/ipv4.js';
import type { Fan } from '../core/config/resolve.js';
import { shiftOf } from '../core/mapping/fan.js';
import type { OverlayEntry } from '../core/model/host-state.js';

export function overlayEntry(fan: Fan): OverlayEntry {
  return {
    overlay: fan.map.overlay.address,
    overlayMask: mask(fan.map.overlay.prefix),
    underlay: fan.map.underlay.address,
    underlayMask: mask(fan.map.underlay.prefix),
    shift: shiftOf(fan.map),
    vni: fan.host.vni,
    local: fan.host.host,
  };
}

/** Every data-plane backend, by the `--type` that selects it. Adding a backend: a folder, and one line here. */
import type { Fan } from '../core/config/resolve.js';
import type { DataplaneType } from '../core/config/fan-spec.js';
import type { DataplaneBackend } from './backend.js';
import { hostGwBackend } from './host-gw/backend.js';
import { hostGwFastBackend } from './host-gw-fast/backend.js';
import { vxlanBackend } from './vxlan/backend.js';
import { vxlanFastBackend } from './vxlan-fast/backend.js';

const BACKENDS: Readonly<Record<DataplaneType, DataplaneBackend>> = {
  vxlan: vxlanBackend,
  'host-gw': hostGwBackend,
  'vxlan-fast': vxlanFastBackend,
  'host-gw-fast': hostGwFastBackend,
};

export const ALL_BACKENDS: readonly DataplaneBackend[] = Object.values(BACKENDS);

export function backendOf(fan: Pick<Fan, 'type'>): DataplaneBackend {
  return BACKENDS[fan.type];
}

/** Bridge and container MTU: the underlay device's, less the backend's encapsulation. */
export function fanMtu(fan: Pick<Fan, 'type' | 'deviceMtu'>): number {
  return fan.deviceMtu - backendOf(fan).overhead;
}

/** The wire format of a backend type (undefined: no such type), shared by a kernel path and its fast path. */
export function wireFormatOf(type: string | undefined): DataplaneBackend['wireFormat'] | undefined {
  return ALL_BACKENDS.find((b) => b.type === type)?.wireFormat;
}

/** Fans whose packets cross hosts in fan's VXLAN (the fan-vxlan device, or a fast path with the same frames). */
export function carriesVxlan(fan: { readonly type: string }): boolean {
  return wireFormatOf(fan.type) === 'vxlan';
}

/** Plain-JSON views of the mapping for `--json` output: addresses as dotted strings, every derived field. */
import { type Ipv4, formatCidr, formatIpv4 } from '../address/ipv4.js';
import { type HostSlice, underlayHostOf } from './fan.js';

export interface SliceReport {
  overlay: string;
  underlay: string;
  underlayHost: string;
  slice: string;
  slicePrefix: number;
  gateway: string;
  firstUsable: string;
  lastUsable: string;
  size: number;
  vni: number;
  bridge: string;
}

export function sliceReport(host: HostSlice, bridge: string): SliceReport {
  return {
    overlay: formatCidr(host.map.overlay),
    underlay: formatCidr(host.map.underlay),
    underlayHost: formatIpv4(host.host),
    slice: formatCidr(host.slice),
    slicePrefix: host.slice.prefix,
    gateway: formatIpv4(host.gateway),
    firstUsable: formatIpv4(host.firstUsable),
    lastUsable: formatIpv4(host.lastUsable),
    size: host.size,
    vni: host.vni,
    bridge,
  };
}

export interface MapReport extends SliceReport {
  address: string;
}

export function mapReport(host: HostSlice, bridge: string, address: Ipv4): MapReport {
  underlayHostOf(host.map, address); // validates the address is in the overlay
  return { address: formatIpv4(address), ...sliceReport(host, bridge) };
}

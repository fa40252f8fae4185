/** `fanctl slice` and `fanctl map`: the mapping as a calculator. No root, no changes to the host. */
import { isNetworkAddress, parseIpv4 } from '../../core/address/ipv4.js';
import { type FanSpec, parseFanWords } from '../../core/config/fan-spec.js';
import { resolveUnderlay, resolveUnderlayOffline } from '../../core/config/resolve.js';
import { ConfigError } from '../../core/errors.js';
import { bridgeNameOf, defineFan, describeHost, underlayHostOf } from '../../core/mapping/fan.js';
import { type MapReport, type SliceReport, mapReport, sliceReport } from '../../core/mapping/report.js';
import type { HostReader } from '../../ports/host.js';

export interface CalcOptions {
  overlay?: string;
  underlay?: string;
  bridge?: string;
}

function specOf(opts: CalcOptions): FanSpec {
  const words: string[] = [];
  if (opts.overlay !== undefined) words.push('-o', opts.overlay);
  if (opts.underlay !== undefined) words.push('-u', opts.underlay);
  if (opts.bridge !== undefined) words.push('--bridge', opts.bridge);
  return parseFanWords(words);
}

/** The slice of this host (or of the host named by -u ADDRESS/LEN). */
export async function sliceCommand(opts: CalcOptions, host: HostReader): Promise<SliceReport> {
  const spec = specOf(opts);
  const u =
    spec.underlay.kind === 'cidr' && !isNetworkAddress(spec.underlay.cidr)
      ? resolveUnderlayOffline(spec)
      : resolveUnderlay(spec, await host.readFacts());
  const map = defineFan(spec.overlay, u.underlay);
  return sliceReport(describeHost(map, u.host), spec.bridge ?? bridgeNameOf(map.overlay));
}

/** The underlay host of an overlay address. The underlay's host bits, if any, are ignored. */
export function mapCommand(address: string, opts: CalcOptions): MapReport {
  const spec = specOf(opts);
  if (spec.underlay.kind !== 'cidr') {
    throw new ConfigError(`map needs the underlay as a network, not "${spec.underlay.text}"`, 'e.g. -u 172.16.0.0/16');
  }
  const map = defineFan(spec.overlay, spec.underlay.cidr);
  const target = parseIpv4(address);
  const host = underlayHostOf(map, target);
  return mapReport(describeHost(map, host), spec.bridge ?? bridgeNameOf(map.overlay), target);
}

/**
 * Checksum and segmentation offloads on the tunnel and the underlay devices (`ethtool -k`). With tx checksumming
 * off on the tunnel, the kernel also turns off TSO/GSO there, so every TCP segment is encapsulated one by one; it
 * is usually a left-over of an old workaround for a kernel bug with checksum offload on VXLAN devices whose outer
 * packets were NATed. fan's tunnel is built with the kernel's defaults, and expects them.
 */
import { TUNNEL_DEVICE } from '../../backends/vxlan/backend.js';
import { type Check, type Finding, combine, fail, ok, skip, warn } from '../check.js';

export interface Feature {
  readonly on: boolean;
  readonly fixed: boolean;
}

export interface OffloadDevice {
  readonly dev: string;
  readonly role: 'tunnel' | 'underlay';
  /** undefined when ethtool could not read the device. */
  readonly features?: Readonly<Record<string, Feature>>;
}

export interface OffloadObservation {
  readonly ethtool: boolean;
  readonly devices: readonly OffloadDevice[];
}

/** `ethtool -k DEV` text: `name: on|off [fixed]` per line. */
export function parseFeatures(text: string): Record<string, Feature> {
  const out: Record<string, Feature> = {};
  for (const m of text.matchAll(/^\s*([\w-]+): (on|off)( \[fixed\])?/gm)) {
    const [, name, state, fixed] = m;
    if (name !== undefined) out[name] = { on: state === 'on', fixed: fixed !== undefined };
  }
  return out;
}

/** Features whose being off (when the device could have them on) hurts or breaks the tunnel. */
const TUNNEL_REQUIRED: Readonly<Record<string, 'fail' | 'warn'>> = {
  'tx-checksumming': 'fail',
  'scatter-gather': 'warn',
  'generic-segmentation-offload': 'warn',
  'tcp-segmentation-offload': 'warn',
};
const UNDERLAY_WANTED = ['tx-checksumming', 'rx-checksumming', 'generic-segmentation-offload'];

export const offloadCheck: Check<OffloadObservation> = {
  id: 'offload',
  title: 'checksum and segmentation offloads',
  async gather(ctx) {
    const devices: { dev: string; role: 'tunnel' | 'underlay' }[] = [];
    if (ctx.current.links.some((l) => l.name === TUNNEL_DEVICE)) devices.push({ dev: TUNNEL_DEVICE, role: 'tunnel' });
    for (const dev of new Set(ctx.fans.map((f) => f.device))) devices.push({ dev, role: 'underlay' });
    let ethtool = true;
    const out: OffloadDevice[] = [];
    for (const d of devices) {
      const result = await ctx.runner
        .run(['ethtool', '-k', d.dev], { allowFailure: true })
        .catch(() => ({ exitCode: 127, stdout: '' }));
      if (result.exitCode === 127) ethtool = false;
      out.push(result.exitCode === 0 ? { ...d, features: parseFeatures(result.stdout) } : d);
    }
    return { ethtool, devices: out };
  },
  judge(o) {
    if (o.devices.length === 0) return skip('no fan is up');
    if (!o.ethtool) return warn('ethtool is not installed: offloads not inspected', 'apt-get install ethtool');
    const findings: Finding[] = [];
    for (const d of o.devices) {
      if (!d.features) {
        findings.push(warn(`ethtool cannot read ${d.dev}`, `ethtool -k ${d.dev}`));
        continue;
      }
      const features = d.features;
      if (d.role === 'tunnel') {
        for (const [name, severity] of Object.entries(TUNNEL_REQUIRED)) {
          const f = features[name];
          if (!f || f.on || f.fixed) continue;
          const why =
            name === 'tx-checksumming'
              ? ': the kernel then segments and checksums every packet in software before encapsulating it ' +
                '(TSO/GSO off), a workaround for an old VXLAN checksum bug that costs most of the throughput'
              : '';
          const seen = `${name} is off on ${d.dev}${why}`;
          const short =
            name === 'tx-checksumming'
              ? 'tx'
              : name === 'scatter-gather'
                ? 'sg'
                : name === 'generic-segmentation-offload'
                  ? 'gso'
                  : 'tso';
          const fix = `ethtool -K ${d.dev} ${short} on`;
          findings.push(severity === 'fail' ? fail(seen, fix) : warn(seen, fix));
        }
      } else {
        const off = UNDERLAY_WANTED.filter((name) => features[name] && !features[name]?.on && !features[name]?.fixed);
        if (off.length > 0)
          findings.push(
            warn(
              `${off.join(', ')} off on the underlay device ${d.dev}: slower encapsulated traffic`,
              `ethtool -K ${d.dev} ` +
                off
                  .map((n) => `${n === 'tx-checksumming' ? 'tx' : n === 'rx-checksumming' ? 'rx' : 'gso'} on`)
                  .join(' '),
            ),
          );
      }
    }
    return combine(
      findings,
      ok(`${o.devices.map((d) => d.dev).join(', ')}: checksum and segmentation offloads at the kernel's defaults`),
    );
  },
};

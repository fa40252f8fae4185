/**
 * Test-only fixtures of the data-plane backend tests: a host with two underlay devices, fans and plans from
 * `fanctl up` words, a host with nothing of fan's, and short forms of plans and operations to compare. Pure.
 */
import { parseIpv4 } from '../core/address/ipv4.js';
import { parseFanWords } from '../core/config/fan-spec.js';
import { type Fan, resolveFans } from '../core/config/resolve.js';
import type { CurrentHost, DesiredHost } from '../core/model/host-state.js';
import { planHost } from '../core/plan/host-plan.js';
import type { Op } from '../core/plan/ops.js';
import { cidrOf, hostFacts, iface, route } from './builders.js';

/** eth0 on 172.16.0.0/16 (default route), eth1 on 10.99.224.0/20 with MTU 9000; both Ethernet. */
export const TWO_UNDERLAYS = hostFacts(
  [
    iface('eth0', ['172.16.3.4/16'], { mac: '02:00:ac:10:03:04' }),
    iface('eth1', ['10.99.238.5/20'], { mtu: 9000, mac: '02:00:0a:63:ee:05' }),
  ],
  [route('default', 'eth0', { gateway: parseIpv4('172.16.0.1') }), route('172.16.0.0/16', 'eth0')],
);

/** The fans of `fanctl up` word lines, resolved on TWO_UNDERLAYS. */
export const fansOf = (...lines: string[]): Fan[] =>
  resolveFans(
    lines.map((l) => parseFanWords(l.split(' '))),
    TWO_UNDERLAYS,
  );

export const planOf = (...lines: string[]): DesiredHost => planHost(fansOf(...lines), { stateDir: '/run/fan' });

/** `DEV direction:section,… N` for each planned device (N: rows of its overlay table). */
export const deviceLines = (p: DesiredHost): string[] =>
  p.devices.map(
    (d) => `${d.dev} ${d.programs.map((x) => `${x.direction}:${x.section}`).join(',')} ${d.overlays.length}`,
  );

/** A host with eth0 and nothing of fan's. */
export const EMPTY_HOST: CurrentHost = {
  links: [{ name: 'eth0', kind: 'ether', mtu: 1500, up: true, addresses: [cidrOf('172.16.3.4/16')] }],
  routes: [],
  tcPrograms: [],
  hostGw: [],
  forwardAccept: [],
  iptables: true,
  dhcp: [],
  ipForward: true,
};

/** `tc-attach DEV QDISC`, `link-add NAME`, or the kind of any other operation. */
export const briefOp = (op: Op): string =>
  op.kind === 'tc-attach' || op.kind === 'tc-detach'
    ? `${op.kind} ${op.dev} ${op.qdisc}`
    : op.kind === 'link-add'
      ? `${op.kind} ${op.link.name}`
      : op.kind;

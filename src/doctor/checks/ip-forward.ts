/** Fan routes between its bridges, its tunnel and the underlay: the host must forward IPv4. */
import { type Check, fail, ok, skip } from '../check.js';
import { readSysctl } from '../gather.js';

export interface IpForwardObservation {
  readonly fans: number;
  /** `net.ipv4.ip_forward`, undefined when it could not be read. */
  readonly value: string | undefined;
}

export const ipForwardCheck: Check<IpForwardObservation> = {
  id: 'ip-forward',
  title: 'IPv4 forwarding',
  async gather(ctx) {
    return { fans: ctx.fans.length, value: await readSysctl(ctx.runner, 'net.ipv4.ip_forward') };
  },
  judge(o) {
    if (o.fans === 0) return skip(`no fan is up (net.ipv4.ip_forward = ${o.value ?? '?'})`);
    if (o.value === '1') return ok('net.ipv4.ip_forward = 1');
    return fail(
      `net.ipv4.ip_forward = ${o.value ?? 'unreadable'}: ` +
        `the host drops every packet between containers and other hosts or the outside`,
      'sysctl -w net.ipv4.ip_forward=1 (fanctl up sets it; ' +
        'something reset it later: make it permanent in /etc/sysctl.d/)',
    );
  },
};

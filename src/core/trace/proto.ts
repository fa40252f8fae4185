/** The PROTO/PORT argument of `fanctl trace`: icmp (default), tcp/PORT, udp/PORT. */
import { ConfigError } from '../errors.js';

export interface TraceProto {
  readonly name: 'icmp' | 'tcp' | 'udp';
  readonly port?: number;
}

export function parseProto(text: string | undefined): TraceProto {
  if (text === undefined || text === '' || text.toLowerCase() === 'icmp') return { name: 'icmp' };
  const m = /^(tcp|udp)(?:\/(\d{1,5}))?$/i.exec(text);
  const port = m?.[2] === undefined ? undefined : Number(m[2]);
  if (!m || (port !== undefined && (port < 1 || port > 65535))) {
    throw new ConfigError(`protocol "${text}" is not icmp, tcp/PORT or udp/PORT`, 'e.g. tcp/80, udp/53 or icmp');
  }
  return { name: (m[1] ?? 'tcp').toLowerCase() as 'tcp' | 'udp', ...(port !== undefined ? { port } : {}) };
}

export function formatProto(p: TraceProto): string {
  return p.port === undefined ? p.name : `${p.name}/${p.port}`;
}

/**
 * Reading a policy file: YAML (the `yaml` package, which keeps every node's position) checked with a zod schema,
 * then the checks that need the whole document (overlapping ranges, unknown groups). Every problem is reported
 * at once, each as `FILE:LINE: FIELD: what is wrong (fix: …)`. Pure: the caller reads the file.
 */
import { LineCounter, isNode, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { type Cidr, formatCidr, network, overlaps, parseCidr, parseIpv4 } from '../address/ipv4.js';
import { ConfigError, errorMessage } from '../errors.js';
import {
  ANY,
  type AddressPair,
  type Expose,
  type Group,
  type GroupRule,
  OUTSIDE,
  type Policy,
  type PortSpec,
  RESERVED_GROUP_NAMES,
  UNGROUPED,
} from './model.js';

/** One problem of a policy document, located. */
export interface PolicyProblem {
  readonly line: number;
  readonly field: string;
  readonly message: string;
  readonly hint: string;
}

export class PolicyError extends ConfigError {
  override name = 'PolicyError';
  constructor(
    readonly source: string,
    readonly problems: readonly PolicyProblem[],
  ) {
    super(
      problems.length === 1
        ? `${source}:${problems[0]?.line ?? 0}: ${problems[0]?.field ?? ''}: ${problems[0]?.message ?? ''}`
        : `${source} has ${problems.length} problems:\n${problems.map((p) => `  ${source}:${p.line}: ${p.field}: ${p.message} (fix: ${p.hint})`).join('\n')}`,
      problems.length === 1 ? problems[0]?.hint : 'fix each line named above; nothing was changed',
    );
  }
}

export const GROUP_NAME = /^[a-z][a-z0-9_-]{0,30}$/;

const portText = z.union([z.string(), z.number()]).transform(String);
const ruleSchema = z
  .object({
    from: z.string({ required_error: 'from is required' }),
    to: z.string({ required_error: 'to is required' }),
    ports: z.union([portText, z.array(portText)]).optional(),
  })
  .strict();
const pairSchema = z.tuple([z.string(), z.string()], { invalid_type_error: 'a pair is a list of two addresses' });
const groupSchema = z
  .object({
    index: z.union([z.string(), z.number()]).transform(String).optional(),
    cidr: z.union([z.string(), z.array(z.string())]).optional(),
  })
  .strict();
const documentSchema = z
  .object({
    default: z
      .enum(['isolate', 'open'], { errorMap: () => ({ message: 'default must be "isolate" or "open"' }) })
      .default('isolate'),
    groups: z.record(z.string(), groupSchema).nullish(),
    allow: z.array(ruleSchema).nullish(),
    deny: z.array(ruleSchema).nullish(),
    connect: z.array(pairSchema).nullish(),
    disconnect: z.array(pairSchema).nullish(),
    expose: z.array(z.object({ port: portText, to: z.string() }).strict()).nullish(),
    namespaces: z.record(z.string(), z.string()).nullish(),
  })
  .strict();

type Path = readonly (string | number)[];

class Locator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /** The line of the node at `path`, or of its nearest existing parent. */
  line(path: Path): number {
    for (let n = path.length; n >= 0; n--) {
      const node: unknown = n === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) return this.lines.linePos(node.range[0]).line;
      // A key whose value is null has no value node: point at the key.
      if (n > 0 && node === null) return this.line(path.slice(0, n - 1));
    }
    return 1;
  }
}

const fieldOf = (path: Path): string =>
  path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${p}`)).join('') || '(document)';

/** `tcp/80`, `udp/1000-2000`, `icmp`. Throws a message (no location) when malformed. */
export function parsePortSpec(text: string): PortSpec {
  const t = text.trim().toLowerCase();
  if (t === 'icmp') return { proto: 'icmp' };
  const m = /^(tcp|udp)\/(\d{1,5})(?:-(\d{1,5}))?$/.exec(t);
  if (!m) throw new Error(`"${text}" is not a port`);
  const from = Number(m[2]);
  const to = m[3] === undefined ? from : Number(m[3]);
  if (from < 1 || to > 65535 || from > to) throw new Error(`"${text}" is not a port range inside 1-65535`);
  return { proto: m[1] === 'udp' ? 'udp' : 'tcp', from, to };
}

const PORT_HINT = 'write tcp/PORT, udp/PORT, tcp/FIRST-LAST (ports 1-65535) or icmp, e.g. tcp/5432';

/** `10-19` or `10`: inclusive container indexes. */
export function parseIndexRange(text: string): { first: number; last: number } {
  const m = /^\s*(\d{1,7})\s*(?:-\s*(\d{1,7}))?\s*$/.exec(text);
  if (!m) throw new Error(`"${text}" is not an index range`);
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  if (first > last) throw new Error(`index range "${text}" ends before it starts`);
  return { first, last };
}

export function parsePolicy(text: string, source = 'policy'): Policy {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PolicyError(
      source,
      doc.errors.map((e) => ({
        line: e.linePos?.[0]?.line ?? lines.linePos(e.pos[0]).line,
        field: '(yaml)',
        message: e.message.split('\n')[0] ?? 'invalid YAML',
        hint: 'fix the YAML syntax (indentation, quoting, one value per key)',
      })),
    );
  }
  const at = new Locator(doc, lines);
  const raw: unknown = doc.toJS() ?? {};
  const parsed = documentSchema.safeParse(raw);
  if (!parsed.success) {
    throw new PolicyError(
      source,
      parsed.error.issues.map((issue) => ({
        line: at.line(issue.path),
        field: fieldOf(issue.path),
        message:
          issue.code === 'unrecognized_keys'
            ? `unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')}`
            : issue.message,
        hint: hintFor(issue.path),
      })),
    );
  }
  const d = parsed.data;
  const problems: PolicyProblem[] = [];
  const problem = (path: Path, message: string, hint: string): void => {
    problems.push({ line: at.line(path), field: fieldOf(path), message, hint });
  };

  const groups: Group[] = [];
  for (const [name, g] of Object.entries(d.groups ?? {})) {
    const path = ['groups', name];
    const line = at.line(path);
    if (!GROUP_NAME.test(name)) {
      problem(
        path,
        `group name "${name}" is invalid`,
        'use 1-31 lowercase letters, digits, "-" or "_", starting with a letter',
      );
      continue;
    }
    if (RESERVED_GROUP_NAMES.includes(name)) {
      problem(
        path,
        `"${name}" is a built-in group name`,
        `pick another name; ${RESERVED_GROUP_NAMES.join(', ')} have a fixed meaning`,
      );
      continue;
    }
    if ((g.index === undefined) === (g.cidr === undefined)) {
      problem(
        path,
        'a group has either "index" or "cidr"',
        'write { index: 10-19 } (container indexes in every slice) or { cidr: [172.30.255.0/24] }',
      );
      continue;
    }
    if (g.index !== undefined) {
      try {
        groups.push({ name, kind: 'index', ...parseIndexRange(g.index), line });
      } catch (error) {
        problem([...path, 'index'], errorMessage(error), 'write FIRST-LAST container indexes, e.g. index: 10-19');
      }
    } else {
      const texts = typeof g.cidr === 'string' ? [g.cidr] : (g.cidr ?? []);
      const cidrs: Cidr[] = [];
      texts.forEach((t, i) => {
        try {
          cidrs.push(network(parseCidr(t)));
        } catch (error) {
          problem(
            [...path, 'cidr', ...(typeof g.cidr === 'string' ? [] : [i])],
            errorMessage(error),
            'write a network as ADDRESS/LENGTH, e.g. 172.30.255.0/24',
          );
        }
      });
      if (texts.length === 0)
        problem(
          [...path, 'cidr'],
          'the group lists no CIDR',
          'list at least one network, e.g. cidr: [172.30.255.0/24]',
        );
      groups.push({ name, kind: 'cidr', cidrs, line });
    }
  }
  // Ranges and CIDRs must not overlap: the group of an address has to be one answer.
  for (let i = 0; i < groups.length; i++) {
    for (let j = i + 1; j < groups.length; j++) {
      const a = groups[i];
      const b = groups[j];
      if (!a || !b) continue;
      if (a.kind === 'index' && b.kind === 'index' && a.first <= b.last && b.first <= a.last) {
        problem(
          ['groups', b.name, 'index'],
          `indexes ${b.first}-${b.last} of group ${b.name} overlap ${a.first}-${a.last} of group ${a.name} (line ${a.line})`,
          `make the ranges disjoint, e.g. ${b.name}: { index: ${a.last + 1}-${a.last + 1 + (b.last - b.first)} }`,
        );
      }
      if (a.kind === 'cidr' && b.kind === 'cidr') {
        for (const x of a.cidrs)
          for (const y of b.cidrs) {
            if (overlaps(x, y))
              problem(
                ['groups', b.name, 'cidr'],
                `${formatCidr(y)} of group ${b.name} overlaps ${formatCidr(x)} of group ${a.name} (line ${a.line})`,
                'an address belongs to one group: make the networks disjoint',
              );
          }
      }
    }
  }
  const known = new Set([...groups.map((g) => g.name), UNGROUPED, OUTSIDE, ANY]);
  const defined = new Set(Object.keys(d.groups ?? {}));
  const rules = (key: 'allow' | 'deny'): GroupRule[] =>
    (d[key] ?? []).flatMap((r, i) => {
      let ok = true;
      for (const end of ['from', 'to'] as const) {
        const name = r[end];
        if (!known.has(name) && !defined.has(name)) {
          ok = false;
          problem(
            [key, i, end],
            `unknown group "${name}"`,
            `define it under groups, or use one of ${[...known].join(', ')}`,
          );
        }
      }
      const texts = r.ports === undefined ? [] : typeof r.ports === 'string' ? [r.ports] : r.ports;
      const ports: PortSpec[] = [];
      texts.forEach((t, j) => {
        try {
          ports.push(parsePortSpec(t));
        } catch (error) {
          ok = false;
          problem([key, i, 'ports', ...(typeof r.ports === 'string' ? [] : [j])], errorMessage(error), PORT_HINT);
        }
      });
      return ok ? [{ from: r.from, to: r.to, ports, line: at.line([key, i]) }] : [];
    });
  const allow = rules('allow');
  const deny = rules('deny');
  const pairs = (key: 'connect' | 'disconnect'): AddressPair[] =>
    (d[key] ?? []).flatMap((p, i) => {
      try {
        return [{ a: parseIpv4(p[0]), b: parseIpv4(p[1]), line: at.line([key, i]) }];
      } catch (error) {
        problem([key, i], errorMessage(error), 'write a pair of container addresses, e.g. [250.0.27.15, 250.0.28.25]');
        return [];
      }
    });
  const connect = pairs('connect');
  const disconnect = pairs('disconnect');
  const expose: Expose[] = (d.expose ?? []).flatMap((e, i) => {
    let port: PortSpec;
    try {
      port = parsePortSpec(e.port);
    } catch (error) {
      problem(['expose', i, 'port'], errorMessage(error), 'write the host port as tcp/PORT or udp/PORT, e.g. tcp/8080');
      return [];
    }
    if (port.proto === 'icmp' || port.from === undefined || port.from !== port.to) {
      problem(['expose', i, 'port'], `"${e.port}" is not a single TCP or UDP port`, 'expose one port, e.g. tcp/8080');
      return [];
    }
    const m = /^(\d+\.\d+\.\d+\.\d+):(\d{1,5})$/.exec(e.to.trim());
    const toPort = Number(m?.[2]);
    if (!m || toPort < 1 || toPort > 65535) {
      problem(
        ['expose', i, 'to'],
        `"${e.to}" is not ADDRESS:PORT`,
        'name the container address and port, e.g. to: 250.0.27.11:80',
      );
      return [];
    }
    try {
      return [{ proto: port.proto, port: port.from, to: parseIpv4(m[1] ?? ''), toPort, line: at.line(['expose', i]) }];
    } catch (error) {
      problem(['expose', i, 'to'], errorMessage(error), 'name the container address and port, e.g. to: 250.0.27.11:80');
      return [];
    }
  });
  const namespaces = new Map<string, string>();
  for (const [ns, group] of Object.entries(d.namespaces ?? {})) {
    if (!defined.has(group))
      problem(
        ['namespaces', ns],
        `unknown group "${group}" for namespace ${ns}`,
        'map the namespace to a group defined under groups',
      );
    else namespaces.set(ns, group);
  }
  if (problems.length > 0)
    throw new PolicyError(
      source,
      problems.sort((a, b) => a.line - b.line),
    );
  return { default: d.default, groups, allow, deny, connect, disconnect, expose, namespaces, source };
}

function hintFor(path: Path): string {
  switch (path[0]) {
    case 'groups':
      return 'write NAME: { index: FIRST-LAST } or NAME: { cidr: [NETWORK/LEN] }';
    case 'allow':
    case 'deny':
      return 'write - { from: GROUP, to: GROUP, ports: [tcp/5432] } (ports optional)';
    case 'connect':
    case 'disconnect':
      return 'write - [ADDRESS, ADDRESS]';
    case 'expose':
      return 'write - { port: tcp/8080, to: 250.0.27.11:80 }';
    case 'namespaces':
      return 'write NAMESPACE: GROUP';
    case 'default':
      return 'write default: isolate (only what allow names passes between groups) or default: open';
    default:
      return 'the keys are default, groups, allow, deny, connect, disconnect, expose, namespaces';
  }
}

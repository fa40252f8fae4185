/**
 * The editing commands (`policy group create`, `allow`, `connect`, …) as pure rewrites of the policy file's text.
 * The YAML document is edited in place, so the operator's comments and layout survive; the result is parsed again
 * and refused (nothing written) when it would not be a valid policy.
 */
import { type Document, isMap, isSeq, parseDocument, YAMLMap, YAMLSeq } from 'yaml';
import { formatIpv4, parseCidr, parseIpv4 } from '../address/ipv4.js';
import { ConfigError } from '../errors.js';
import { formatPort } from './model.js';
import { GROUP_NAME, parseIndexRange, parsePolicy, parsePortSpec } from './parse.js';

export type PolicyEdit =
  | { readonly kind: 'group-create'; readonly name: string; readonly index?: string; readonly cidr?: readonly string[] }
  | { readonly kind: 'group-delete'; readonly name: string }
  | { readonly kind: 'allow' | 'deny'; readonly from: string; readonly to: string; readonly ports: readonly string[] }
  | { readonly kind: 'connect' | 'disconnect'; readonly a: string; readonly b: string }
  | { readonly kind: 'expose'; readonly port: string; readonly to: string };

function flow<T extends YAMLMap | YAMLSeq>(node: T): T {
  node.flow = true;
  return node;
}

function seqAt(doc: Document, key: string): YAMLSeq {
  const existing = doc.get(key, true);
  if (isSeq(existing)) return existing;
  const seq = new YAMLSeq();
  doc.set(key, seq);
  return seq;
}

function mapAt(doc: Document, key: string): YAMLMap {
  const existing = doc.get(key, true);
  if (isMap(existing)) return existing;
  const map = new YAMLMap();
  doc.set(key, map);
  return map;
}

const samePorts = (a: readonly string[], b: readonly string[]): boolean =>
  [...a]
    .map((p) => formatPort(parsePortSpec(p)))
    .sort()
    .join(',') ===
  [...b]
    .map((p) => formatPort(parsePortSpec(p)))
    .sort()
    .join(',');

function ruleFields(item: unknown): { from?: string; to?: string; ports: string[] } {
  if (!isMap(item)) return { ports: [] };
  const ports = item.get('ports');
  const list = isSeq(ports)
    ? ports.items.map((p) => String(isMap(p) ? '' : ((p as { value?: unknown }).value ?? p)))
    : ports === undefined
      ? []
      : [String(ports)];
  const from = item.get('from');
  const to = item.get('to');
  return {
    ...(from !== undefined ? { from: String(from) } : {}),
    ...(to !== undefined ? { to: String(to) } : {}),
    ports: list,
  };
}

function pairOf(item: unknown): [string, string] | undefined {
  if (!isSeq(item) || item.items.length !== 2) return undefined;
  const [a, b] = item.items.map((x) => String((x as { value?: unknown }).value ?? x));
  return a !== undefined && b !== undefined ? [a, b] : undefined;
}

/** Removes the items of `key` that `drop` selects; returns how many went. */
function removeFrom(doc: Document, key: string, drop: (item: unknown) => boolean): number {
  const seq = doc.get(key, true);
  if (!isSeq(seq)) return 0;
  const before = seq.items.length;
  seq.items = seq.items.filter((item) => !drop(item));
  return before - seq.items.length;
}

/** Applies one edit to the text of a policy file; throws ConfigError when the edit or its result is invalid. */
export function editPolicy(text: string, edit: PolicyEdit, source = 'policy'): string {
  const doc = parseDocument(text.trim() === '' ? 'default: isolate\n' : text);
  if (doc.errors.length > 0) parsePolicy(text, source); // throws the located YAML errors
  const pairKey = (a: string, b: string): string =>
    [formatIpv4(parseIpv4(a)), formatIpv4(parseIpv4(b))].sort().join(' ');
  switch (edit.kind) {
    case 'group-create': {
      if (!GROUP_NAME.test(edit.name))
        throw new ConfigError(
          `group name "${edit.name}" is invalid`,
          'use 1-31 lowercase letters, digits, "-" or "_", starting with a letter',
        );
      if ((edit.index === undefined) === (edit.cidr === undefined || edit.cidr.length === 0)) {
        throw new ConfigError(
          'a group needs --index A-B or --cidr NETWORK/LEN (one of them)',
          'e.g. fanctl policy group create web --index 10-19',
        );
      }
      const groups = mapAt(doc, 'groups');
      if (groups.has(edit.name))
        throw new ConfigError(
          `group ${edit.name} already exists`,
          `delete it first (fanctl policy group delete ${edit.name}) or pick another name`,
        );
      const node = new YAMLMap();
      if (edit.index !== undefined) {
        const r = parseIndexRange(edit.index);
        node.set('index', r.first === r.last ? String(r.first) : `${r.first}-${r.last}`);
      } else {
        for (const c of edit.cidr ?? []) parseCidr(c);
        node.set('cidr', flow(doc.createNode([...(edit.cidr ?? [])]) as YAMLSeq));
      }
      groups.set(edit.name, flow(node));
      break;
    }
    case 'group-delete': {
      const groups = doc.get('groups', true);
      if (!isMap(groups) || !groups.has(edit.name))
        throw new ConfigError(`there is no group ${edit.name}`, 'see the groups with fanctl policy show');
      groups.delete(edit.name);
      // Rules naming the group go with it; so do namespace mappings to it.
      for (const key of ['allow', 'deny'])
        removeFrom(doc, key, (item) => {
          const r = ruleFields(item);
          return r.from === edit.name || r.to === edit.name;
        });
      const ns = doc.get('namespaces', true);
      if (isMap(ns))
        ns.items = ns.items.filter(
          (pair) => String((pair.value as { value?: unknown } | null)?.value ?? pair.value) !== edit.name,
        );
      break;
    }
    case 'allow':
    case 'deny': {
      for (const p of edit.ports) parsePortSpec(p);
      const other = edit.kind === 'allow' ? 'deny' : 'allow';
      const same = (item: unknown): boolean => {
        const r = ruleFields(item);
        return r.from === edit.from && r.to === edit.to && samePorts(r.ports, edit.ports);
      };
      // Allowing what a deny rule names removes that deny rule (and the other way round) before adding.
      const removed = removeFrom(doc, other, same);
      const seq = seqAt(doc, edit.kind);
      if (removed === 0 || edit.kind === 'allow') {
        if (!seq.items.some(same)) {
          const node = new YAMLMap();
          node.set('from', edit.from);
          node.set('to', edit.to);
          if (edit.ports.length > 0) node.set('ports', flow(doc.createNode([...edit.ports]) as YAMLSeq));
          seq.add(flow(node));
        }
      }
      if (seq.items.length === 0) doc.delete(edit.kind);
      break;
    }
    case 'connect':
    case 'disconnect': {
      const key = pairKey(edit.a, edit.b);
      const other = edit.kind === 'connect' ? 'disconnect' : 'connect';
      const same = (item: unknown): boolean => {
        const p = pairOf(item);
        return p !== undefined && pairKey(p[0], p[1]) === key;
      };
      removeFrom(doc, other, same);
      const seq = seqAt(doc, edit.kind);
      if (!seq.items.some(same)) seq.add(flow(doc.createNode([edit.a, edit.b]) as YAMLSeq));
      break;
    }
    case 'expose': {
      const seq = seqAt(doc, 'expose');
      const node = new YAMLMap();
      node.set('port', edit.port);
      node.set('to', edit.to);
      seq.add(flow(node));
      break;
    }
  }
  const out = doc.toString();
  parsePolicy(out, source); // the edited file must still be a valid policy
  return out;
}

/**
 * Parsing what the runtime hands the plugin: the CNI_* environment and the network configuration on stdin.
 *
 * The `fan` plugin's configuration:
 *   {
 *     "cniVersion": "1.0.0",            0.4.0, 1.0.0 or 1.1.0
 *     "name": "fannet",                 network name (labels leases and host interfaces)
 *     "type": "fan",
 *     "overlay": "250.0.0.0/8",         optional: which fan (CIDR or first octet); default: the first fan up
 *     "bridge": "fan-250",              optional: which fan, by bridge
 *     "mtu": 1400,                      optional: at most the fan's MTU (underlay MTU − 50), the default
 *     "capabilities": { "ips": true },  optional: accept runtimeConfig.ips static addresses
 *     "fastPath": false                 optional: on a fast-path fan, leave this network's containers to the
 *                                       bridge (default true). Needed when a later plugin of the chain works on
 *                                       the container's host veth: bandwidth's egress limit adds an ingress qdisc
 *                                       there, which the fast path's port hook occupies and would skip.
 *   }
 * No `ipam` section: fan allocates from this host's slice itself, so every address names its host.
 * A static address comes from CNI_ARGS `IP=250.3.4.9`, `args.cni.ips` or `runtimeConfig.ips` (one IPv4 address).
 * Kubernetes runtimes (containerd, CRI-O) name the pod in CNI_ARGS: `K8S_POD_NAMESPACE`, `K8S_POD_NAME` and
 * `K8S_POD_UID`; fan records them with the lease, so `fanctl attachments` can say which pod holds an address.
 */
import { z } from 'zod';
import { type Ipv4, formatIpv4, parseIpv4 } from '../core/address/ipv4.js';
import { errorMessage } from '../core/errors.js';
import type { PodRef } from '../core/ipam/leases.js';
import { IFNAME_RULE, ifnameProblem } from '../core/names/ifname.js';
import {
  CNI_CODES,
  CniError,
  type CniResult,
  type CniVersion,
  LATEST_VERSION,
  SUPPORTED_VERSIONS,
  isSupportedVersion,
} from './protocol.js';

export const CNI_COMMANDS = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'] as const;
export type CniCommand = (typeof CNI_COMMANDS)[number];

export interface CniEnv {
  readonly command: CniCommand;
  readonly containerId?: string;
  readonly netns?: string;
  readonly ifname?: string;
  /** CNI_ARGS as key → value (`IgnoreUnknown=1;IP=…`). */
  readonly args: ReadonlyMap<string, string>;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** Far above the 64 hex digits runtimes use; keeps error messages and lease keys bounded. */
const MAX_CONTAINER_ID = 1024;

const invalidEnv = (message: string, hint: string): CniError =>
  new CniError(CNI_CODES.invalidEnvironment, message, hint);

export function parseCniArgs(text: string | undefined): Map<string, string> {
  const args = new Map<string, string>();
  if (!text) return args;
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0)
      throw invalidEnv(
        `CNI_ARGS entry "${pair}" is not KEY=VALUE`,
        'write CNI_ARGS as KEY=VALUE pairs separated by ";", e.g. IgnoreUnknown=1;IP=250.3.4.9',
      );
    args.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return args;
}

/** A Kubernetes name or uid as CNI_ARGS carries it: at most 253 characters, none of them blank or control. */
const K8S_VALUE = /^[^\s\p{Cc}]{1,253}$/u;

/**
 * The pod of CNI_ARGS `K8S_POD_NAMESPACE`, `K8S_POD_NAME` (both, or no pod) and `K8S_POD_UID` (optional); empty
 * values count as absent. A value Kubernetes could not have produced is refused rather than recorded.
 */
export function parsePodArgs(args: ReadonlyMap<string, string>): PodRef | undefined {
  const value = (key: string): string | undefined => {
    const v = args.get(key);
    if (v === undefined || v === '') return undefined;
    if (!K8S_VALUE.test(v)) {
      throw invalidEnv(
        `CNI_ARGS ${key} "${v.slice(0, 60)}" is not a Kubernetes name`,
        'pass at most 253 characters without white space, as the kubelet does',
      );
    }
    return v;
  };
  const namespace = value('K8S_POD_NAMESPACE');
  const name = value('K8S_POD_NAME');
  const uid = value('K8S_POD_UID');
  if (namespace === undefined || name === undefined) return undefined;
  return { namespace, name, ...(uid !== undefined ? { uid } : {}) };
}

/** Reads and checks the CNI_* variables `command` needs (SPEC "Parameters"). */
export function parseCniEnv(env: Readonly<Record<string, string | undefined>>): CniEnv {
  const command = env.CNI_COMMAND;
  if (command === undefined || command === '')
    throw invalidEnv('CNI_COMMAND is not set', `set it to one of ${CNI_COMMANDS.join(', ')}`);
  if (!(CNI_COMMANDS as readonly string[]).includes(command))
    throw invalidEnv(`CNI_COMMAND "${command}" is unknown`, `use one of ${CNI_COMMANDS.join(', ')}`);
  const verb = command as CniCommand;
  const attachment = verb === 'ADD' || verb === 'DEL' || verb === 'CHECK';
  const containerId = env.CNI_CONTAINERID || undefined;
  const ifname = env.CNI_IFNAME || undefined;
  const netns = env.CNI_NETNS || undefined;
  if (attachment) {
    if (containerId === undefined) throw invalidEnv(`CNI_CONTAINERID is required for ${verb}`, 'pass the container id');
    if (containerId.length > MAX_CONTAINER_ID) {
      throw invalidEnv(
        `CNI_CONTAINERID is ${containerId.length} characters long`,
        `pass a container id of at most ${MAX_CONTAINER_ID} characters (runtimes use 64 hex digits)`,
      );
    }
    if (!NAME.test(containerId))
      throw invalidEnv(
        `CNI_CONTAINERID "${containerId}" is not a valid container id`,
        'use letters, digits, "_", "." and "-", starting with a letter or digit',
      );
    if (ifname === undefined)
      throw invalidEnv(
        `CNI_IFNAME is required for ${verb}`,
        'pass the interface name to create in the container, e.g. eth0',
      );
    const problem = ifnameProblem(ifname);
    if (problem)
      throw invalidEnv(
        `CNI_IFNAME ${JSON.stringify(ifname)} is not a usable interface name: ${problem}`,
        `pass an interface name of ${IFNAME_RULE}, e.g. eth0`,
      );
    if (verb !== 'DEL' && netns === undefined)
      throw invalidEnv(
        `CNI_NETNS is required for ${verb}`,
        "pass the path of the container's network namespace, e.g. /var/run/netns/NAME or /proc/PID/ns/net",
      );
    if (netns !== undefined && !netns.startsWith('/'))
      throw invalidEnv(
        `CNI_NETNS "${netns}" is not an absolute path`,
        'pass a path such as /var/run/netns/NAME or /proc/PID/ns/net',
      );
  }
  return {
    command: verb,
    ...(containerId !== undefined ? { containerId } : {}),
    ...(ifname !== undefined ? { ifname } : {}),
    ...(netns !== undefined ? { netns } : {}),
    args: parseCniArgs(env.CNI_ARGS),
  };
}

const interfaceSchema = z.object({
  name: z.string(),
  mac: z.string().optional(),
  mtu: z.number().optional(),
  sandbox: z.string().optional(),
});
const ipSchema = z.object({
  address: z.string(),
  gateway: z.string().optional(),
  interface: z.number().int().nonnegative().optional(),
});
const routeSchema = z.object({ dst: z.string(), gw: z.string().optional() });
const dnsSchema = z
  .object({
    nameservers: z.array(z.string()).optional(),
    domain: z.string().optional(),
    search: z.array(z.string()).optional(),
    options: z.array(z.string()).optional(),
  })
  .optional();
const prevResultSchema = z.object({
  interfaces: z.array(interfaceSchema).default([]),
  ips: z.array(ipSchema).default([]),
  routes: z.array(routeSchema).default([]),
  dns: dnsSchema,
});
const attachmentSchema = z.object({ containerID: z.string(), ifname: z.string() });

const netconfSchema = z
  .object({
    cniVersion: z.string({ required_error: 'cniVersion is required' }),
    name: z
      .string({ required_error: 'name is required' })
      .regex(NAME, 'name must start with a letter or digit and contain only letters, digits, "_", "." and "-"'),
    type: z.literal('fan', { errorMap: () => ({ message: 'type must be "fan"' }) }),
    overlay: z.union([z.string(), z.number().int()]).transform(String).optional(),
    bridge: z.string().min(1).optional(),
    mtu: z.number().int().optional(),
    group: z.string().min(1).optional(),
    fastPath: z.boolean().optional(),
    ipam: z.unknown().optional(),
    args: z
      .object({
        cni: z
          .object({ ips: z.array(z.string()).optional() })
          .passthrough()
          .optional(),
      })
      .passthrough()
      .optional(),
    runtimeConfig: z
      .object({ ips: z.array(z.string()).optional() })
      .passthrough()
      .optional(),
    capabilities: z.record(z.boolean()).optional(),
    prevResult: z.unknown().optional(),
    'cni.dev/valid-attachments': z.array(attachmentSchema).optional(),
    // The name libcni also sends (spec erratum, containernetworking/cni#1101).
    'cni.dev/attachments': z.array(attachmentSchema).optional(),
  })
  .passthrough();

export type PrevResult = CniResult;

export interface NetConf {
  readonly cniVersion: CniVersion;
  readonly name: string;
  readonly overlay?: string;
  readonly bridge?: string;
  readonly mtu?: number;
  readonly prevResult?: PrevResult;
  /** GC: the attachments to keep. */
  readonly validAttachments?: readonly { readonly containerId: string; readonly ifname: string }[];
  /** A static address requested through CNI_ARGS, args or runtimeConfig. */
  readonly requestedIp?: Ipv4;
  /** The Kubernetes pod of CNI_ARGS K8S_POD_*, when the runtime named one. */
  readonly pod?: PodRef;
  /** Policy group to allocate from: `"group"` in the config or CNI_ARGS `FAN_GROUP` (see src/core/policy). */
  readonly group?: string;
  /** CNI_ARGS `K8S_POD_NAMESPACE`: the policy may map it to a group. */
  readonly k8sNamespace?: string;
  /** `"fastPath": false`: no fast-path state for these containers (port hook, accelerator entry). */
  readonly fastPath?: false;
}

const invalidConfig = (message: string, hint: string): CniError => new CniError(CNI_CODES.invalidConfig, message, hint);

/** The `cniVersion` of a document, if it has one: errors are written in the version the runtime speaks. */
export function peekVersion(stdin: string): string {
  try {
    const value: unknown = JSON.parse(stdin);
    if (
      typeof value === 'object' &&
      value !== null &&
      'cniVersion' in value &&
      typeof value.cniVersion === 'string' &&
      value.cniVersion !== ''
    )
      return value.cniVersion;
  } catch {
    // not JSON: the caller reports that
  }
  return LATEST_VERSION;
}

function parseRequestedIp(text: string, source: string): Ipv4 {
  const slash = text.indexOf('/');
  try {
    return parseIpv4(slash >= 0 ? text.slice(0, slash) : text);
  } catch (error) {
    throw invalidConfig(
      `${source} "${text}" is not an IPv4 address: ${errorMessage(error)}`,
      "request one IPv4 address of this host's slice, e.g. IP=250.3.4.9",
    );
  }
}

function groupFields(
  group: string | undefined,
  args: ReadonlyMap<string, string>,
): { group?: string; k8sNamespace?: string } {
  const fromArgs = args.get('FAN_GROUP');
  const chosen = fromArgs !== undefined && fromArgs !== '' ? fromArgs : group;
  const ns = args.get('K8S_POD_NAMESPACE');
  return {
    ...(chosen !== undefined ? { group: chosen } : {}),
    ...(ns !== undefined && ns !== '' ? { k8sNamespace: ns } : {}),
  };
}

/** Parses the network configuration; `args` supplies CNI_ARGS' `IP=`. */
export function parseNetConf(stdin: string, args: ReadonlyMap<string, string> = new Map()): NetConf {
  let json: unknown;
  try {
    json = JSON.parse(stdin);
  } catch (error) {
    throw new CniError(
      CNI_CODES.decodingFailure,
      `the network configuration on stdin is not JSON: ${errorMessage(error)}`,
      'the runtime must pass the network configuration as JSON on stdin',
    );
  }
  const parsed = netconfSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.length > 0 ? `${i.path.join('.')}: ` : ''}${i.message}`);
    throw invalidConfig(
      `invalid network configuration: ${problems.join('; ')}`,
      'see the fan plugin\'s configuration in the README (type "fan", name, cniVersion, optional overlay/bridge/mtu)',
    );
  }
  const c = parsed.data;
  if (!isSupportedVersion(c.cniVersion)) {
    throw new CniError(
      CNI_CODES.incompatibleVersion,
      `CNI version ${c.cniVersion} is not supported`,
      `the fan plugin speaks ${SUPPORTED_VERSIONS.join(', ')}; set "cniVersion" to one of them`,
    );
  }
  if (c.ipam !== undefined && !(typeof c.ipam === 'object' && c.ipam !== null && Object.keys(c.ipam).length === 0)) {
    throw invalidConfig(
      'the fan plugin does not take an "ipam" section',
      'remove "ipam": fan allocates each container an address of this host\'s slice itself ' +
        '(ask for a fixed one with CNI_ARGS IP=…)',
    );
  }
  const requests: Ipv4[] = [];
  const fromArgs = args.get('IP');
  if (fromArgs !== undefined && fromArgs !== '')
    requests.push(...fromArgs.split(',').map((t) => parseRequestedIp(t, 'CNI_ARGS IP')));
  for (const t of c.args?.cni?.ips ?? []) requests.push(parseRequestedIp(t, 'args.cni.ips entry'));
  if (c.capabilities?.ips !== false)
    for (const t of c.runtimeConfig?.ips ?? []) requests.push(parseRequestedIp(t, 'runtimeConfig.ips entry'));
  const distinct = [...new Set(requests)];
  if (distinct.length > 1) {
    throw invalidConfig(
      `more than one static address requested (${distinct.map(formatIpv4).join(', ')})`,
      'a fan attachment has one IPv4 address; request one',
    );
  }
  let prevResult: PrevResult | undefined;
  if (c.prevResult !== undefined && c.prevResult !== null) {
    const prev = prevResultSchema.safeParse(c.prevResult);
    if (!prev.success) {
      throw new CniError(
        CNI_CODES.decodingFailure,
        `prevResult is malformed: ${prev.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        'pass the result of the previous ADD unchanged',
      );
    }
    prevResult = { ...prev.data, dns: prev.data.dns ?? {} };
  }
  const valid = c['cni.dev/valid-attachments'] ?? c['cni.dev/attachments'];
  const pod = parsePodArgs(args);
  const bridgeProblem = c.bridge === undefined ? undefined : ifnameProblem(c.bridge);
  if (bridgeProblem)
    throw invalidConfig(
      `bridge ${JSON.stringify(c.bridge)} is not a valid interface name: ${bridgeProblem}`,
      'name the fan bridge, e.g. "bridge": "fan-250"',
    );
  return {
    cniVersion: c.cniVersion,
    name: c.name,
    ...(c.overlay !== undefined ? { overlay: c.overlay } : {}),
    ...(c.bridge !== undefined ? { bridge: c.bridge } : {}),
    ...(c.mtu !== undefined ? { mtu: c.mtu } : {}),
    ...(prevResult ? { prevResult } : {}),
    ...(valid ? { validAttachments: valid.map((a) => ({ containerId: a.containerID, ifname: a.ifname })) } : {}),
    ...(distinct[0] !== undefined ? { requestedIp: distinct[0] } : {}),
    ...(pod ? { pod } : {}),
    ...groupFields(c.group, args),
    ...(c.fastPath === false ? { fastPath: false as const } : {}),
  };
}

/**
 * The policy use cases: apply (parse → compile for this host → one nft transaction → save), re-apply after
 * `fanctl up`, remove on `down`, show, check, the file-editing commands, and port bindings for the attach paths.
 * A policy that does not parse or does not fit this host's geometry changes nothing.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { formatIpv4, parseCidr, parseIpv4 } from '../core/address/ipv4.js';
import type { Fan } from '../core/config/resolve.js';
import { ConfigError, errorMessage } from '../core/errors.js';
import { type CompiledPolicy, type PolicyHost, compilePolicy, policyHash } from '../core/policy/compile.js';
import { type PolicyEdit, editPolicy } from '../core/policy/edit.js';
import { type CheckResult, type L4, type PolicyGeometry, checkGeometry, checkPolicy } from '../core/policy/evaluate.js';
import { defineFan } from '../core/mapping/fan.js';
import type { Policy } from '../core/policy/model.js';
import { parsePolicy, parsePortSpec } from '../core/policy/parse.js';
import { countRules, renderPolicyRemove, renderPolicyReplace } from '../codec/policy-nft.js';
import {
  type RuleCounter,
  enableBridgeFiltering,
  loadNftScript,
  readPolicyTables,
  requireOwnTables,
} from '../kernel/policy-tables.js';
import type { HostReader } from '../ports/host.js';
import type { CommandRunner } from '../ports/runner.js';
import { PolicyStateStore } from '../store/policy-state.js';
import { readFanView } from './fans.js';
import { NftPortBinder } from './port-bindings.js';
import { readBindTable } from '../kernel/bind-table.js';
import { groupPool, requestedGroup, ungroupedPool } from '../core/policy/group-pool.js';
import { poolOf } from '../core/ipam/pool.js';
import type { LeaseStore } from '../ports/leases.js';
import { FileLeaseStore, leaseFilePath } from '../store/lease-file.js';
import type { FanPaths } from './paths.js';
import { type PolicyWatchFile, readPolicyWatchFile } from '../store/policy-watch-state.js';
import { withFastPathOff } from '../kernel/fastpath.js';

export interface PolicyDeps {
  readonly runner: CommandRunner;
  readonly host: HostReader;
  readonly paths: FanPaths;
  readonly log: (line: string) => void;
}

export function policyHostOf(fans: readonly Fan[]): PolicyHost {
  return {
    fans: fans.map((f) => ({
      overlay: f.map.overlay,
      slicePrefix: f.host.slice.prefix,
      hostReserve: f.hostReserve,
      bridge: f.bridge,
      slice: f.host.slice,
      underlayHost: f.host.host,
    })),
  };
}

export interface ApplyReport {
  readonly hash: string;
  readonly source: string;
  readonly rules: number;
  readonly bindings: number;
  /** CPU time of the one `nft -f` transaction (user + system). */
  readonly nftMs: number;
  /** Its wall time. */
  readonly nftWallMs: number;
}

async function compileForHost(
  deps: PolicyDeps,
  policy: Policy,
  _store: PolicyStateStore,
): Promise<{ compiled: CompiledPolicy; fans: readonly Fan[] }> {
  const view = await readFanView({ host: deps.host, stateDir: deps.paths.stateDir });
  if (view.fans.length === 0)
    throw new ConfigError(
      'no fan is up on this host: a policy applies to the fans of this host',
      'bring a fan up first (fanctl up -o OVERLAY -u UNDERLAY)',
    );
  const compiled = compilePolicy(policy, policyHostOf(view.fans));
  return { compiled, fans: view.fans };
}

/** Compiles and swaps in `text`; on any error before the transaction nothing is changed. */
export async function applyPolicyText(deps: PolicyDeps, text: string, source: string): Promise<ApplyReport> {
  const policy = parsePolicy(text, source);
  const store = new PolicyStateStore(deps.paths.stateDir);
  return store.withBindingsLock(async () => {
    const { compiled, fans } = await compileForHost(deps, policy, store);
    await requireOwnTables(deps.runner);
    const script = renderPolicyReplace(compiled);
    for (const f of fans) await enableBridgeFiltering(deps.runner, f.bridge);
    const timing = await withFastPathOff(deps.runner, () => loadNftScript(deps.runner, script));
    const previous = await store.readRecord();
    await store.writeApplied(text, { version: 1, hash: compiled.hash, source, appliedAt: new Date().toISOString() });
    if (previous?.hash !== compiled.hash) deps.log(`policy ${compiled.hash} applied from ${source}`);
    return {
      hash: compiled.hash,
      source,
      rules: countRules(script),
      bindings: (await new NftPortBinder(deps.runner, deps.paths.stateDir).list()).length,
      nftMs: timing.cpuMs,
      nftWallMs: timing.wallMs,
    };
  });
}

export async function applyPolicyFile(deps: PolicyDeps, path: string): Promise<ApplyReport> {
  return applyPolicyText(deps, await readPolicyFile(path), path);
}

async function readPolicyFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `cannot read policy file ${path}: ${errorMessage(error)}`,
      'pass the path of a YAML policy file',
    );
  }
}

/** For `fanctl up`: applies the last applied policy again (the fans may have changed). No policy: nothing to do. */
export async function reapplyPolicy(deps: PolicyDeps): Promise<(ApplyReport & { changed: boolean }) | undefined> {
  const store = new PolicyStateStore(deps.paths.stateDir);
  const text = await store.readText();
  if (text === undefined) return undefined;
  const view = await readFanView({ host: deps.host, stateDir: deps.paths.stateDir });
  if (view.fans.length === 0) {
    await removePolicy(deps);
    return undefined;
  }
  const kernelBefore = (await readPolicyTables(deps.runner)).hash;
  const report = await applyPolicyText(deps, text, (await store.readRecord())?.source ?? 'applied policy');
  return { ...report, changed: report.hash !== kernelBefore };
}

/** For `fanctl down`: removes fan's policy tables (the stored policy stays, for the next `up`). */
export async function removePolicy(deps: PolicyDeps): Promise<void> {
  const state = await readPolicyTables(deps.runner);
  if (state.foreign) return; // not ours
  await withFastPathOff(deps.runner, () => loadNftScript(deps.runner, renderPolicyRemove()));
}

/** `fanctl policy remove`: tables gone and the stored policy forgotten. */
export async function forgetPolicy(deps: PolicyDeps): Promise<void> {
  await removePolicy(deps);
  await new PolicyStateStore(deps.paths.stateDir).forget();
}

export interface PolicyShow {
  readonly applied: boolean;
  readonly hash?: string;
  /** Hash of the tables in the kernel; differs from `hash` when something replaced or removed them. */
  readonly kernelHash?: string;
  readonly source?: string;
  readonly appliedAt?: string;
  readonly refused?: { readonly at: string; readonly source: string; readonly error: string };
  readonly policy?: unknown;
  readonly rules?: number;
  readonly boundPorts: number;
  readonly counters: readonly RuleCounter[];
  /** The watcher of this host (`fanctl policy watch`), when one ran here; `alive` tells whether it still runs. */
  readonly watch?: PolicyWatchFile & { readonly alive: boolean };
}

export async function showPolicy(deps: PolicyDeps): Promise<PolicyShow> {
  const store = new PolicyStateStore(deps.paths.stateDir);
  const [text, record, tables] = await Promise.all([
    store.readText(),
    store.readRecord(),
    readPolicyTables(deps.runner),
  ]);
  const watch = await policyWatchOf(deps.paths.stateDir);
  // The policy's groups rest on port binding (table bridge fan-bind): its bound ports and drops are shown here too.
  const bind = (await readBindTable(deps.runner)).content;
  const base = {
    ...(watch ? { watch } : {}),
    boundPorts: bind?.elements.ports.length ?? 0,
    counters: [
      ...tables.counters,
      ...(bind?.counters ?? []).map(
        (c): RuleCounter => ({
          family: 'bridge',
          chain: 'prerouting',
          comment: `fan: ${c.rule}`,
          packets: c.packets,
          bytes: c.bytes,
        }),
      ),
    ],
    ...(tables.hash !== undefined ? { kernelHash: tables.hash } : {}),
  };
  if (text === undefined || record === undefined) return { applied: false, ...base };
  const policy = parsePolicy(text, record.source);
  let rules: number | undefined;
  try {
    rules = countRules(renderPolicyReplace((await compileForHost(deps, policy, store)).compiled));
  } catch {
    rules = undefined; // no fan up now
  }
  return {
    applied: tables.hash === record.hash,
    hash: record.hash,
    source: record.source,
    appliedAt: record.appliedAt,
    ...(record.refused ? { refused: record.refused } : {}),
    policy: describePolicy(policy),
    ...(rules !== undefined ? { rules } : {}),
    ...base,
  };
}

async function policyWatchOf(stateDir: string): Promise<(PolicyWatchFile & { alive: boolean }) | undefined> {
  const file = await readPolicyWatchFile(stateDir).catch(() => undefined);
  if (!file) return undefined;
  let alive = file.running;
  if (alive) {
    try {
      process.kill(file.pid, 0);
    } catch (error) {
      alive = (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  return { ...file, alive };
}

function describePolicy(policy: Policy): unknown {
  return {
    default: policy.default,
    groups: policy.groups.map((g) =>
      g.kind === 'index'
        ? { name: g.name, index: `${g.first}-${g.last}` }
        : { name: g.name, cidr: g.cidrs.map((c) => `${formatIpv4(c.address)}/${c.prefix}`) },
    ),
    allow: policy.allow.map((r) => ({ from: r.from, to: r.to, ports: r.ports })),
    deny: policy.deny.map((r) => ({ from: r.from, to: r.to, ports: r.ports })),
    connect: policy.connect.map((p) => [formatIpv4(p.a), formatIpv4(p.b)]),
    disconnect: policy.disconnect.map((p) => [formatIpv4(p.a), formatIpv4(p.b)]),
    expose: policy.expose.map((e) => ({ port: `${e.proto}/${e.port}`, to: `${formatIpv4(e.to)}:${e.toPort}` })),
    namespaces: Object.fromEntries(policy.namespaces),
  };
}

/** The applied policy (or `file`), for check and for the IPAM's groups. */
export async function loadPolicy(deps: Pick<PolicyDeps, 'paths'>, file?: string): Promise<Policy> {
  if (file !== undefined) return parsePolicy(await readPolicyFile(file), file);
  const store = new PolicyStateStore(deps.paths.stateDir);
  const text = await store.readText();
  if (text === undefined)
    throw new ConfigError(
      'no policy has been applied on this host',
      'apply one with fanctl policy apply FILE, or pass --file FILE',
    );
  return parsePolicy(text, (await store.readRecord())?.source ?? 'applied policy');
}

export function parseL4(text: string | undefined): L4 | undefined {
  if (text === undefined) return undefined;
  try {
    const p = parsePortSpec(text);
    return p.from === undefined ? { proto: p.proto } : { proto: p.proto, port: p.from };
  } catch (error) {
    throw new ConfigError(`${errorMessage(error)}`, 'write PROTO/PORT, e.g. tcp/5432, or icmp');
  }
}

export interface CheckGeometryOptions {
  /** Without a fan up here: the overlay and underlay networks, e.g. 250.0.0.0/8 and 172.16.0.0/16. */
  readonly overlay?: string;
  readonly underlay?: string;
  readonly hostReserve?: number;
}

export async function checkCommand(
  deps: PolicyDeps,
  src: string,
  dst: string,
  l4text: string | undefined,
  file?: string,
  given: CheckGeometryOptions = {},
): Promise<CheckResult & { hash: string }> {
  const policy = await loadPolicy(deps, file);
  let geometry: PolicyGeometry;
  if (given.overlay !== undefined || given.underlay !== undefined) {
    if (given.overlay === undefined || given.underlay === undefined)
      throw new ConfigError('pass both --overlay and --underlay', 'e.g. -o 250.0.0.0/8 -u 172.16.0.0/16');
    const map = defineFan(parseCidr(given.overlay), parseCidr(given.underlay));
    geometry = {
      fans: [
        {
          overlay: map.overlay,
          slicePrefix: map.overlay.prefix + 32 - map.underlay.prefix,
          hostReserve: given.hostReserve ?? 1,
        },
      ],
    };
  } else {
    const view = await readFanView({ host: deps.host, stateDir: deps.paths.stateDir });
    if (view.fans.length === 0)
      throw new ConfigError(
        'no fan is up on this host, so the overlay geometry is unknown',
        'pass the fan: --overlay 250.0.0.0/8 --underlay 172.16.0.0/16',
      );
    geometry = policyHostOf(view.fans);
  }
  checkGeometry(policy, geometry);
  return {
    ...checkPolicy(policy, geometry, parseIpv4(src), parseIpv4(dst), parseL4(l4text)),
    hash: policyHash(policy),
  };
}

/** Rewrites the policy file with one edit (created when absent); applies it when asked. */
export async function editPolicyFile(
  deps: PolicyDeps,
  path: string,
  edit: PolicyEdit,
  apply: boolean,
): Promise<{ path: string; applied?: ApplyReport }> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  const next = editPolicy(text, edit, path);
  if (apply) {
    const report = await applyPolicyText(deps, next, path); // applied first: a file that cannot apply is not written
    await writeFile(path, next);
    return { path, applied: report };
  }
  await writeFile(path, next);
  return { path };
}

/**
 * The IPAM of a group: the fan's lease table, allocating only inside the group's index range. A call that asks for
 * no group (a Kubernetes namespace the applied policy does not map is no request) allocates outside every group's
 * range. Undefined when no policy is applied, or it has no index groups: the fan's plain pool.
 */
export async function groupLeaseStore(
  deps: Pick<PolicyDeps, 'paths'>,
  fan: Fan,
  request: { readonly group?: string; readonly k8sNamespace?: string },
): Promise<LeaseStore | undefined> {
  const store = new PolicyStateStore(deps.paths.stateDir);
  const text = await store.readText();
  if (text === undefined) {
    if (request.group === undefined) return undefined;
    throw new ConfigError(
      `group "${request.group}" was asked for, but no policy is applied on this host`,
      'apply the policy that defines the group first (fanctl policy apply FILE)',
    );
  }
  const policy = parsePolicy(text, (await store.readRecord())?.source ?? 'applied policy');
  const name = requestedGroup(policy, request);
  // No group asked for: an address outside every group's range, so that no container joins a group unasked.
  const pool = name === undefined ? ungroupedPool(poolOf(fan), policy) : groupPool(poolOf(fan), policy, name);
  if (pool === undefined) return undefined;
  return new FileLeaseStore(leaseFilePath(deps.paths.stateDir, fan.bridge), pool);
}

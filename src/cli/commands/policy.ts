/** `fanctl policy …`: apply, show, check, and the editing commands that rewrite the policy file. */
import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';
import type { PolicyEdit } from '../../core/policy/edit.js';
import type { CheckResult } from '../../core/policy/evaluate.js';
import type * as PolicyApp from '../../app/policy.js';
import type { ApplyReport, PolicyDeps, PolicyShow } from '../../app/policy.js';
import { requireRoot } from '../../kernel/probes.js';
import { type Output, printJson } from '../output.js';
import { registerPolicyWatchCommands } from './policy-watch.js';

export const DEFAULT_POLICY_FILE = '/etc/fan/policy.yaml';

/** Loaded when a policy command runs, not when the command table is built. */
const app = (): Promise<typeof PolicyApp> => import('../../app/policy.js');

export function renderApply(r: ApplyReport): string {
  return (
    `policy ${r.hash} applied from ${r.source}: ${r.rules} nft rules, ${r.bindings} bound ports, ` +
    `one nft transaction (${r.nftMs.toFixed(0)} ms CPU, ${r.nftWallMs.toFixed(0)} ms wall)\n`
  );
}

function describeClass(c: CheckResult['from']): string {
  return c.kind === 'host' ? 'host address' : `group ${c.group}${c.index !== undefined ? ` (index ${c.index})` : ''}`;
}

export function renderCheck(r: CheckResult): string {
  return (
    `${r.allowed ? 'allowed' : 'denied'} by ${r.rule}${r.line !== undefined ? ` (line ${r.line})` : ''}: ` +
    `from ${describeClass(r.from)} to ${describeClass(r.to)}\n`
  );
}

export function renderPolicyShow(s: PolicyShow): string {
  if (s.hash === undefined)
    return `no policy applied${s.kernelHash ? ` (but the kernel holds policy ${s.kernelHash})` : ''}\n`;
  const notApplied = `: NOT in the kernel (kernel: ${s.kernelHash ?? 'none'}); run fanctl policy apply or fanctl up`;
  const lines = [
    `policy ${s.hash} from ${s.source ?? '?'} (applied ${s.appliedAt ?? '?'})${s.applied ? '' : notApplied}`,
    ...(s.refused ? [`last refused document: ${s.refused.source} at ${s.refused.at}: ${s.refused.error}`] : []),
    ...(s.rules !== undefined ? [`nft rules: ${s.rules}; bound ports: ${s.boundPorts}`] : []),
    ...(s.watch ? renderWatch(s.watch) : []),
  ];
  const p = s.policy as
    | {
        default: string;
        groups: { name: string; index?: string; cidr?: string[] }[];
        allow: { from: string; to: string; ports: { proto: 'tcp' | 'udp' | 'icmp'; from?: number; to?: number }[] }[];
      }
    | undefined;
  if (p) {
    lines.push(`default: ${p.default}`);
    for (const g of p.groups)
      lines.push(
        `group ${g.name}: ${g.index !== undefined ? `index ${g.index}` : `cidr ${(g.cidr ?? []).join(', ')}`}`,
      );
  }
  lines.push('counters (packets, bytes, rule):');
  for (const c of s.counters)
    lines.push(
      `  ${String(c.packets).padStart(10)} ${String(c.bytes).padStart(12)}  ` +
        `${c.family === 'bridge' ? '[port binding] ' : ''}${c.comment ?? c.chain}`,
    );
  return `${lines.join('\n')}\n`;
}

function renderWatch(w: NonNullable<PolicyShow['watch']>): string[] {
  const state = !w.alive
    ? `not running (pid ${w.pid}, last update ${w.updatedAt})`
    : w.connected
      ? 'connected'
      : `disconnected${w.connectionError !== undefined ? `: ${w.connectionError}` : ''}`;
  const applied = `${w.appliedRevision ?? '-'}${w.appliedHash !== undefined ? ` (policy ${w.appliedHash})` : ''}`;
  return [
    `watch: ${w.source}: ${state}`,
    `  revision ${w.revision ?? '-'}${w.deleted ? ' (key deleted)' : ''}${w.pending ? ' (pending)' : ''}; ` +
      `applied revision ${applied}`,
    ...(w.refused ? [`  refused revision ${w.refused.revision} at ${w.refused.at}: ${w.refused.error}`] : []),
    ...(w.lastFailure !== undefined ? [`  last failure: ${w.lastFailure}`] : []),
  ];
}

interface EditOptions {
  file: string;
  apply?: boolean;
  index?: string;
  cidr?: string[];
  port?: string[];
}

export function registerPolicyCommands(
  program: Command,
  output: Output,
  policyDeps: () => PolicyDeps,
  untilStopped?: () => Promise<string>,
): void {
  const policy = program
    .command('policy')
    .description('isolation by groups carried in the address: apply, show, check and edit the policy');
  policy
    .command('apply')
    .description(
      'compile the policy file for this host and swap it in, in one nftables transaction (a bad file changes nothing)',
    )
    .argument('<file>', 'YAML policy file')
    .option('--json', 'print the report as JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      requireRoot('fanctl policy apply');
      const r = await (await app()).applyPolicyFile(policyDeps(), file);
      if (opts.json) printJson(output, r);
      else output.out(renderApply(r));
    });
  policy
    .command('show')
    .description('the applied policy, its content hash and per-rule packet counters')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      const s = await (await app()).showPolicy(policyDeps());
      if (opts.json) printJson(output, s);
      else output.out(renderPolicyShow(s));
    });
  policy
    .command('check')
    .description('whether SRC may send to DST (and on which port), and by which rule, without sending a packet')
    .argument('<src>', 'source address')
    .argument('<dst>', 'destination address')
    .argument('[port]', 'PROTO/PORT, e.g. tcp/5432, or icmp')
    .option('--file <path>', 'check this policy file instead of the applied policy')
    .option('-o, --overlay <cidr>', 'with -u, check for this fan instead of the fans up here')
    .option('-u, --underlay <cidr>', "the fan's underlay network, e.g. 172.16.0.0/16")
    .option('--host-reserve <n>', 'host reserve of the fan given with -o/-u', '1')
    .option('--json', 'print as JSON')
    .action(
      async (
        src: string,
        dst: string,
        port: string | undefined,
        opts: { file?: string; json?: boolean; overlay?: string; underlay?: string; hostReserve: string },
      ) => {
        const r = await (
          await app()
        ).checkCommand(policyDeps(), src, dst, port, opts.file, {
          ...(opts.overlay !== undefined ? { overlay: opts.overlay } : {}),
          ...(opts.underlay !== undefined ? { underlay: opts.underlay } : {}),
          hostReserve: Number(opts.hostReserve),
        });
        if (opts.json) printJson(output, r);
        else output.out(renderCheck(r));
      },
    );
  policy
    .command('remove')
    .description('remove the policy tables and forget the applied policy')
    .action(async () => {
      requireRoot('fanctl policy remove');
      await (await app()).forgetPolicy(policyDeps());
      output.out('policy removed\n');
    });

  const edit = (
    cmd: Command,
    build: (args: readonly string[], opts: EditOptions) => PolicyEdit,
    argCount: number,
  ): Command =>
    cmd
      .option('--file <path>', 'the policy file to rewrite', DEFAULT_POLICY_FILE)
      .option('--apply', 'apply the rewritten file (the file is written only if it applies)')
      .action(async (...args: unknown[]) => {
        const opts = args[argCount] as EditOptions;
        if (opts.apply) requireRoot('fanctl policy … --apply');
        const r = await (
          await app()
        ).editPolicyFile(
          policyDeps(),
          opts.file,
          build(args.slice(0, argCount) as string[], opts),
          opts.apply ?? false,
        );
        output.out(`${r.path} rewritten\n${r.applied ? renderApply(r.applied) : ''}`);
      });

  const group = policy.command('group').description('create or delete a group');
  edit(
    group
      .command('create')
      .description('add a group: container indexes in every slice, or networks outside the fan')
      .argument('<name>')
      .option('--index <range>', 'container indexes, e.g. 10-19')
      .option('--cidr <cidr...>', 'networks, e.g. 172.30.255.0/24'),
    ([name], opts) => ({
      kind: 'group-create',
      name: name ?? '',
      ...(opts.index !== undefined ? { index: opts.index } : {}),
      ...(opts.cidr !== undefined ? { cidr: opts.cidr } : {}),
    }),
    1,
  );
  edit(
    group.command('delete').description('remove a group and the rules naming it').argument('<name>'),
    ([name]) => ({ kind: 'group-delete', name: name ?? '' }),
    1,
  );
  for (const kind of ['allow', 'deny'] as const) {
    const cmd = policy
      .command(kind)
      .description(
        kind === 'allow'
          ? 'let FROM open connections to TO (one direction; replies pass)'
          : 'stop FROM reaching TO (removes a matching allow, else adds a deny rule)',
      )
      .argument('<from>', 'group')
      .argument('<to>', 'group')
      .option('--port <port...>', 'PROTO/PORT, e.g. tcp/80 (default: every protocol and port)');
    edit(cmd, ([from, to], opts) => ({ kind, from: from ?? '', to: to ?? '', ports: opts.port ?? [] }), 2);
  }
  for (const kind of ['connect', 'disconnect'] as const) {
    edit(
      policy
        .command(kind)
        .description(
          kind === 'connect'
            ? 'let two addresses reach each other both ways, whatever their groups'
            : 'keep two addresses apart both ways, whatever allow says',
        )
        .argument('<a>')
        .argument('<b>'),
      ([a, b]) => ({ kind, a: a ?? '', b: b ?? '' }),
      2,
    );
  }
  edit(
    policy
      .command('expose')
      .description("make a container port reachable on this host's underlay address (DNAT)")
      .argument('<port>', 'host port, e.g. tcp/8080')
      .argument('<target>', 'ADDRESS:PORT of the container'),
    ([port, target]) => {
      if (port === undefined || target === undefined)
        throw new ConfigError(
          'expose needs PORT and ADDRESS:PORT',
          'e.g. fanctl policy expose tcp/8080 250.0.27.11:80',
        );
      return { kind: 'expose', port, to: target };
    },
    2,
  );
  // fleet distribution through etcd: watch, publish
  if (untilStopped) registerPolicyWatchCommands(policy, output, policyDeps, untilStopped);
}

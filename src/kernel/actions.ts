/**
 * Runs one Action (src/codec/ops/action.ts). Commands go through the CommandRunner; the few actions that look
 * before they act read the state directory and /proc through the System port.
 */
import type { Action } from '../codec/ops/action.js';
import { dnsmasqArgv } from '../codec/ops/dnsmasq.js';
import { FanError } from '../core/errors.js';
import { dhcpKey } from '../core/plan/diff.js';
import type { CommandRunner } from '../ports/runner.js';
import type { System } from '../ports/system.js';
import type { BpfTables } from './bpf.js';
import { KernelCommandError } from './exec.js';
import { type DhcpRecord, dhcpRecord, dhcpRecordPath, dnsmasqPidPath, unrecordedDnsmasq } from './read.js';

export interface ActionContext {
  readonly runner: CommandRunner;
  readonly bpf: BpfTables;
  readonly system: System;
  readonly stateDir: string;
}

const clsactMarker = (stateDir: string, dev: string): string => `${stateDir}/${dev}.clsact-by-fan`;

export async function runAction(action: Action, context: ActionContext): Promise<void> {
  const { runner, system, stateDir } = context;
  switch (action.kind) {
    case 'run': {
      const options = { ...(action.input !== undefined ? { input: action.input } : {}), allowFailure: true };
      const result = await runner.run(action.argv, options);
      if (result.exitCode === 0) return;
      if (action.tolerate !== undefined && new RegExp(action.tolerate).test(result.stderr)) return;
      throw new KernelCommandError(action.argv, result.exitCode, result.stderr);
    }
    case 'overlay-table':
      return context.bpf.writeOverlays(action.dev, action.overlays);
    case 'clsact-add': {
      const added = await runner.run(['tc', 'qdisc', 'add', 'dev', action.dev, 'clsact'], { allowFailure: true });
      if (added.exitCode === 0) return system.write(clsactMarker(stateDir, action.dev), 'fan added the clsact qdisc\n');
      if (!/File exists|Exclusivity flag on/.test(added.stderr)) {
        throw new FanError(`cannot add clsact to ${action.dev}: ${added.stderr.trim()}`);
      }
      return;
    }
    case 'clsact-release': {
      if ((await system.read(clsactMarker(stateDir, action.dev))) === undefined) return;
      const removed = await runner.run(['tc', 'qdisc', 'del', 'dev', action.dev, 'clsact'], { allowFailure: true });
      if (removed.exitCode !== 0 && !/Cannot find|No such file|Invalid handle/.test(removed.stderr)) {
        throw new KernelCommandError(
          ['tc', 'qdisc', 'del', 'dev', action.dev, 'clsact'],
          removed.exitCode,
          removed.stderr,
        );
      }
      return system.remove(clsactMarker(stateDir, action.dev));
    }
    case 'dnsmasq-start':
      return startDnsmasq(action.dhcp, context);
    case 'dnsmasq-stop':
      return stopDnsmasq(action.bridge, action.forget, context);
  }
}

async function startDnsmasq(
  dhcp: Extract<Action, { kind: 'dnsmasq-start' }>['dhcp'],
  context: ActionContext,
): Promise<void> {
  const { runner, system, stateDir } = context;
  await system.remove(dhcp.pidFile);
  await runner.run(dnsmasqArgv(dhcp)); // daemonises once bound; failures (bad option, port in use) exit non-zero here
  for (let i = 0; i < 100; i++) {
    const pid = Number((await system.read(dhcp.pidFile))?.trim() ?? '');
    if (pid > 0) {
      const record: DhcpRecord = { pid, key: dhcpKey(dhcp), bridge: dhcp.bridge, spec: dhcp };
      return system.write(dhcpRecordPath(stateDir, dhcp.bridge), `${JSON.stringify(record, null, 2)}\n`);
    }
    await system.sleep(20);
  }
  throw new FanError(`dnsmasq for ${dhcp.bridge} started but wrote no pid file ${dhcp.pidFile}`);
}

/** Stops the dnsmasq fan started on `bridge`: only when its recorded pid is still a dnsmasq. */
async function stopDnsmasq(bridge: string, forget: boolean, context: ActionContext): Promise<void> {
  const { system, stateDir } = context;
  const path = dhcpRecordPath(stateDir, bridge);
  const text = await system.read(path);
  const record = text === undefined ? undefined : dhcpRecord.safeParse(JSON.parse(text)).data;
  const pid = record ? record.pid : await unrecordedDnsmasq(system, stateDir, bridge);
  if (pid !== undefined && (await system.command(pid)) === 'dnsmasq') {
    system.signal(pid, 'SIGTERM');
    for (let i = 0; i < 100 && (await system.command(pid)) === 'dnsmasq'; i++) await system.sleep(20);
  }
  await system.remove(path);
  await system.remove(record?.spec?.pidFile ?? dnsmasqPidPath(stateDir, bridge));
  if (forget) await system.remove(record?.spec?.leaseFile ?? `${stateDir}/${bridge}.leases`);
}

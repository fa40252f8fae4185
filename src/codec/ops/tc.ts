/**
 * fan's eBPF programs on tc clsact, and the overlay table they read. On fan's own tunnel and bridges the qdisc is
 * fan's; on a device of the host's (host-gw) fan adds clsact only when absent and removes only its own filter and,
 * if it added it, the qdisc.
 */
import { FAN_TC_PREF } from '../../core/model/host-state.js';
import type { Op } from '../../core/plan/ops.js';
import { type Action, type Change, run } from './action.js';

type OpOf<K extends Op['kind']> = Extract<Op, { kind: K }>;
type Programs = OpOf<'tc-attach'>['programs'];

/**
 * Where a filter goes: the device's own chain of that direction, or (an ingress program of a fast path's bridge)
 * the shared block the bridge and its ports bind to, which tc addresses by index only.
 */
function filterTarget(dev: string, direction: string, block: number | undefined): string[] {
  return block !== undefined && direction === 'ingress' ? ['block', String(block)] : ['dev', dev, direction];
}

function tcFilterArgv(dev: string, direction: string, section: string, bpfObject: string, block?: number): string[] {
  return [
    ...['tc', 'filter', 'replace', ...filterTarget(dev, direction, block), 'pref', String(FAN_TC_PREF), 'handle', '1'],
    ...['bpf', 'da', 'obj', bpfObject, 'sec', section],
  ];
}

const TOLERATE_GONE = 'Cannot find|No such file|Invalid handle|Block of given index was not found';
const filterDel = (dev: string, direction: string, block: number | undefined): Action =>
  run(['tc', 'filter', 'del', ...filterTarget(dev, direction, block), 'pref', String(FAN_TC_PREF)], {
    tolerate: TOLERATE_GONE,
  });
const qdiscDel = (dev: string): Action =>
  run(['tc', 'qdisc', 'del', 'dev', dev, 'clsact'], { tolerate: TOLERATE_GONE });

/**
 * The clsact qdisc: fan's own (replaced, deleted on undo; bound to the shared block when there is one), or a
 * device's shared one (marker-counted).
 */
function qdiscChange(dev: string, qdisc: 'own' | 'shared', block: number | undefined): Change {
  const bind = block !== undefined ? ['ingress_block', String(block)] : [];
  return qdisc === 'own'
    ? { apply: run(['tc', 'qdisc', 'replace', 'dev', dev, ...bind, 'clsact']), undo: [qdiscDel(dev)] }
    : { apply: { kind: 'clsact-add', dev }, undo: [{ kind: 'clsact-release', dev }] };
}

function filterChanges(dev: string, programs: Programs, bpfObject: string, block: number | undefined): Change[] {
  return programs.map((p) => ({
    apply: run(tcFilterArgv(dev, p.direction, p.section, bpfObject, block)),
    undo: [filterDel(dev, p.direction, block)],
  }));
}

/** The filters, then (unless fan's other programs stay on the device) the qdisc. */
function detach(op: OpOf<'tc-detach'>, keepQdisc: boolean): Action[] {
  // A block's filter goes first: ports bound to the block keep it alive after the bridge's qdisc is gone.
  const filters = op.programs.map((p) => filterDel(op.dev, p.direction, op.block));
  if (keepQdisc) return filters;
  return [...filters, op.qdisc === 'own' ? qdiscDel(op.dev) : { kind: 'clsact-release', dev: op.dev }];
}

export function renderTcAttach(op: OpOf<'tc-attach'>, bpfObject: string): Change[] {
  const block = op.qdisc === 'own' ? op.block : undefined;
  return [qdiscChange(op.dev, op.qdisc, block), ...filterChanges(op.dev, op.programs, bpfObject, block)];
}

export function renderTcDetach(op: OpOf<'tc-detach'>, bpfObject: string): Change[] {
  const keep = op.keepQdisc === true;
  // A rollback attaches again; with fan's other programs staying, the qdisc stayed too and only the filters return.
  const again = [
    ...(keep ? [] : [qdiscChange(op.dev, op.qdisc, op.block)]),
    ...filterChanges(op.dev, op.programs, bpfObject, op.block),
  ];
  const table: Action[] = op.overlays ? [{ kind: 'overlay-table', dev: op.dev, overlays: op.overlays }] : [];
  return detach(op, keep).map((apply, i) => ({
    apply,
    undo: i === 0 ? [...again.map((c) => c.apply), ...table] : [],
  }));
}

export function renderOverlayTable(op: OpOf<'overlay-table'>): Change[] {
  const back: Action[] = op.was ? [{ kind: 'overlay-table', dev: op.dev, overlays: op.was }] : [];
  return [{ apply: { kind: 'overlay-table', dev: op.dev, overlays: op.overlays }, undo: back }];
}

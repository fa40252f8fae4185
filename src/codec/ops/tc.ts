/**
 * fan's eBPF programs on tc clsact, and the overlay table they read. On fan's own tunnel the qdisc is fan's; on a
 * device of the host's (host-gw) fan adds clsact only when absent and removes only its own filter and, if it added
 * it, the qdisc.
 */
import { FAN_TC_PREF } from '../../core/model/host-state.js';
import type { Op } from '../../core/plan/ops.js';
import { type Action, type Change, run } from './action.js';

type OpOf<K extends Op['kind']> = Extract<Op, { kind: K }>;
type Programs = OpOf<'tc-attach'>['programs'];

export function tcFilterArgv(dev: string, direction: string, section: string, bpfObject: string): string[] {
  return [
    ...['tc', 'filter', 'replace', 'dev', dev, direction, 'pref', String(FAN_TC_PREF), 'handle', '1'],
    ...['bpf', 'da', 'obj', bpfObject, 'sec', section],
  ];
}

const filterDel = (dev: string, direction: string): Action =>
  run(['tc', 'filter', 'del', 'dev', dev, direction, 'pref', String(FAN_TC_PREF)], {
    tolerate: 'Cannot find|No such file|Invalid handle',
  });
const qdiscDel = (dev: string): Action =>
  run(['tc', 'qdisc', 'del', 'dev', dev, 'clsact'], { tolerate: 'Cannot find|No such file|Invalid handle' });

/** The clsact qdisc: fan's own (replaced, deleted on undo), or a device's shared one (marker-counted). */
function qdiscChange(dev: string, qdisc: 'own' | 'shared'): Change {
  return qdisc === 'own'
    ? { apply: run(['tc', 'qdisc', 'replace', 'dev', dev, 'clsact']), undo: [qdiscDel(dev)] }
    : { apply: { kind: 'clsact-add', dev }, undo: [{ kind: 'clsact-release', dev }] };
}

function filterChanges(dev: string, programs: Programs, bpfObject: string): Change[] {
  return programs.map((p) => ({
    apply: run(tcFilterArgv(dev, p.direction, p.section, bpfObject)),
    undo: [filterDel(dev, p.direction)],
  }));
}

function attach(dev: string, programs: Programs, qdisc: 'own' | 'shared', bpfObject: string): Change[] {
  return [qdiscChange(dev, qdisc), ...filterChanges(dev, programs, bpfObject)];
}

/** The filters, then (unless fan's other programs stay on the device) the qdisc. */
function detach(dev: string, programs: Programs, qdisc: 'own' | 'shared', keepQdisc: boolean): Action[] {
  const filters = programs.map((p) => filterDel(dev, p.direction));
  if (keepQdisc) return filters;
  return [...filters, qdisc === 'own' ? qdiscDel(dev) : { kind: 'clsact-release', dev }];
}

export function renderTcAttach(op: OpOf<'tc-attach'>, bpfObject: string): Change[] {
  return attach(op.dev, op.programs, op.qdisc, bpfObject);
}

export function renderTcDetach(op: OpOf<'tc-detach'>, bpfObject: string): Change[] {
  const keep = op.keepQdisc === true;
  // A rollback attaches again; with fan's other programs staying, the qdisc stayed too and only the filters return.
  const again = [...(keep ? [] : [qdiscChange(op.dev, op.qdisc)]), ...filterChanges(op.dev, op.programs, bpfObject)];
  const table: Action[] = op.overlays ? [{ kind: 'overlay-table', dev: op.dev, overlays: op.overlays }] : [];
  return detach(op.dev, op.programs, op.qdisc, keep).map((apply, i) => ({
    apply,
    undo: i === 0 ? [...again.map((c) => c.apply), ...table] : [],
  }));
}

export function renderOverlayTable(op: OpOf<'overlay-table'>): Change[] {
  const back: Action[] = op.was ? [{ kind: 'overlay-table', dev: op.dev, overlays: op.was }] : [];
  return [{ apply: { kind: 'overlay-table', dev: op.dev, overlays: op.overlays }, undo: back }];
}

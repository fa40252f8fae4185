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

function attach(dev: string, programs: Programs, qdisc: 'own' | 'shared', bpfObject: string): Change[] {
  const changes: Change[] =
    qdisc === 'own'
      ? [{ apply: run(['tc', 'qdisc', 'replace', 'dev', dev, 'clsact']), undo: [qdiscDel(dev)] }]
      : [{ apply: { kind: 'clsact-add', dev }, undo: [{ kind: 'clsact-release', dev }] }];
  for (const p of programs) {
    changes.push({
      apply: run(tcFilterArgv(dev, p.direction, p.section, bpfObject)),
      undo: [filterDel(dev, p.direction)],
    });
  }
  return changes;
}

function detach(dev: string, programs: Programs, qdisc: 'own' | 'shared' | 'keep'): Action[] {
  const filters = programs.map((p) => filterDel(dev, p.direction));
  if (qdisc === 'keep') return filters;
  return [...filters, qdisc === 'own' ? qdiscDel(dev) : { kind: 'clsact-release', dev }];
}

export function renderTcAttach(op: OpOf<'tc-attach'>, bpfObject: string): Change[] {
  return attach(op.dev, op.programs, op.qdisc, bpfObject);
}

export function renderTcDetach(op: OpOf<'tc-detach'>, bpfObject: string): Change[] {
  // With fan's other programs staying, the qdisc stays too: a rollback only puts the filters back.
  const again = attach(op.dev, op.programs, op.qdisc, bpfObject)
    .slice(op.keepQdisc ? 1 : 0)
    .map((c) => c.apply);
  const table: Action[] = op.overlays ? [{ kind: 'overlay-table', dev: op.dev, overlays: op.overlays }] : [];
  return detach(op.dev, op.programs, op.keepQdisc ? 'keep' : op.qdisc).map((apply, i) => ({
    apply,
    undo: i === 0 ? [...again, ...table] : [],
  }));
}

export function renderOverlayTable(op: OpOf<'overlay-table'>): Change[] {
  const back: Action[] = op.was ? [{ kind: 'overlay-table', dev: op.dev, overlays: op.was }] : [];
  return [{ apply: { kind: 'overlay-table', dev: op.dev, overlays: op.overlays }, undo: back }];
}

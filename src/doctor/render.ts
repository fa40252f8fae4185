/** The doctor report as a table (one row per check: verdict, what was seen, the fix) and a summary line. */
import Table from 'cli-table3';
import type { DoctorReport } from './run.js';

const MARK = { ok: 'ok', warn: 'WARN', fail: 'FAIL', skip: '-' } as const;

export function renderDoctor(report: DoctorReport, width = 120): string {
  const seenWidth = Math.max(30, Math.floor((width - 31) * 0.6));
  const fixWidth = Math.max(20, width - 31 - seenWidth);
  const table = new Table({
    head: ['check', 'verdict', 'seen', 'fix'],
    colWidths: [19, 9, seenWidth, fixWidth],
    wordWrap: true,
    style: { head: [], border: [] },
  });
  for (const c of report.checks) table.push([c.id, MARK[c.verdict], c.seen, c.fix ?? '']);
  const { ok, warn, fail, skip } = report.counts;
  const summary =
    fail > 0
      ? `${fail} check(s) failed: ${report.failed.join(', ')}`
      : warn > 0
        ? 'no check failed (see the warnings)'
        : 'all checks passed';
  return `${table.toString()}\n${summary} (${ok} ok, ${warn} warn, ${fail} fail, ${skip} not applicable)\n`;
}

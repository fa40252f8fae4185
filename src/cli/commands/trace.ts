/** `fanctl trace` printing: the hops as a table, the verdict, and what the probe saw. */
import Table from 'cli-table3';
import type { TraceReport } from '../../app/trace.js';

export function renderTrace(t: TraceReport): string {
  const lines: string[] = [];
  const kind =
    `${t.kind}${t.crossOverlay ? ', cross-overlay' : ''}${t.dataplane ? `, ${t.dataplane}` : ''}` +
    `${t.underlayHost ? `, underlay host ${t.underlayHost}` : ''}`;
  lines.push(`${t.src} → ${t.dst} (${t.proto}): ${kind}`);
  const table = new Table({
    head: ['#', 'host', 'at', 'mtu', 'what happens', 'policy'],
    style: { head: [], border: [] },
    wordWrap: true,
    colWidths: [4, 13, 34, 6, 48, 8],
  });
  t.hops.forEach((h, i) =>
    table.push([String(i + 1), h.host, h.at, h.mtu === undefined ? '' : String(h.mtu), h.action, h.policy ?? '']),
  );
  lines.push(table.toString());
  const verdict =
    t.outcome === 'dropped'
      ? `DROPPED at ${t.stop?.at ?? '?'}: ${t.stop?.reason ?? ''}`
      : t.outcome === 'delivered'
        ? 'delivered'
        : 'leaves this host on the computed path (delivery beyond it is not known without --probe)';
  lines.push(`verdict: ${verdict}${t.pathMtu !== undefined ? `; path MTU ${t.pathMtu}` : ''}`);
  const p = t.probe;
  if (p) {
    lines.push(
      `probe from ${p.from}: ${p.transmitted} sent, ${p.received} answered: ` +
        `${p.outcome}${p.stoppedAt ? ` (stopped: ${p.stoppedAt})` : ''}; ${p.detail}`,
    );
    lines.push(
      p.moved.length === 0
        ? 'counters: none moved'
        : `counters moved:\n${p.moved.map((m) => `  ${m.counter} +${m.delta}`).join('\n')}`,
    );
    if (p.note) lines.push(p.note);
    lines.push(
      p.matches
        ? 'the probe agrees with the trace'
        : 'the probe DISAGREES with the trace: something on this path is not as fan set it up (run fanctl doctor)',
    );
  }
  return `${lines.join('\n')}\n`;
}

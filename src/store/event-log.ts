/**
 * <state>/events.json: how often each fan came up, went down or was repaired, and how often `up`/`down` failed.
 * fanctl runs are short-lived, so the counts live in the state directory where the metrics endpoint reads them
 * (Prometheus counters: they only grow, and reset with the state directory, i.e. on reboot under /run).
 * Written under the fans lock by the run that caused the events.
 */
import { z } from 'zod';
import { readJson, writeJsonAtomic } from './json-file.js';

export const FAN_EVENTS = ['up', 'down', 'repair'] as const;
export type FanEvent = (typeof FAN_EVENTS)[number];
export const FAN_COMMANDS = ['up', 'down'] as const;
export type FanCommand = (typeof FAN_COMMANDS)[number];

const counts = z.record(z.string(), z.number().int().nonnegative());
const eventsFile = z.object({
  version: z.literal(1),
  /** bridge → event → count */
  fans: z.record(z.string(), counts),
  /** command → failed runs */
  failures: counts,
});
export type EventCounts = z.infer<typeof eventsFile>;

export const NO_EVENTS: EventCounts = { version: 1, fans: {}, failures: {} };

export interface FanEventRecord {
  readonly bridge: string;
  readonly event: FanEvent;
}

/** Adds events and failures to the counts (pure). */
export function addEvents(before: EventCounts, events: readonly FanEventRecord[], failed?: FanCommand): EventCounts {
  const fans: Record<string, Record<string, number>> = {};
  for (const [bridge, c] of Object.entries(before.fans)) fans[bridge] = { ...c };
  for (const e of events) {
    const c = (fans[e.bridge] ??= {});
    c[e.event] = (c[e.event] ?? 0) + 1;
  }
  const failures = { ...before.failures };
  if (failed) failures[failed] = (failures[failed] ?? 0) + 1;
  return { version: 1, fans, failures };
}

export class EventLog {
  constructor(readonly dir: string) {}

  get path(): string {
    return `${this.dir}/events.json`;
  }

  read(): Promise<EventCounts> {
    return readJson(this.path, eventsFile, NO_EVENTS);
  }

  async add(events: readonly FanEventRecord[], failed?: FanCommand): Promise<void> {
    if (events.length === 0 && !failed) return;
    await writeJsonAtomic(this.path, addEvents(await this.read(), events, failed));
  }
}

/**
 * prom-client behind fan's metric catalogue: one prom-client metric per descriptor, registered once; each scrape
 * resets them, sets the samples of that scrape and renders the registry (the Prometheus text format). Series that
 * vanished since the last scrape (a fan taken down) vanish from the output too.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { InternalError } from '../core/errors.js';
import { METRIC_LIST, type Sample } from './samples.js';

type PromMetric =
  | { readonly kind: 'counter'; readonly metric: Counter }
  | { readonly kind: 'gauge'; readonly metric: Gauge };

export class FanMetricsRegistry {
  readonly registry = new Registry();
  private readonly metrics = new Map<string, PromMetric>();

  // prom-client's default process/nodejs metrics are left out: some are gauges named `_total`, which promtool rejects.
  constructor() {
    for (const d of METRIC_LIST) {
      const config = { name: d.name, help: d.help, labelNames: [...d.labelNames], registers: [this.registry] };
      this.metrics.set(
        d.name,
        d.type === 'counter'
          ? { kind: 'counter', metric: new Counter(config) }
          : { kind: 'gauge', metric: new Gauge(config) },
      );
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async render(samples: readonly Sample[]): Promise<string> {
    for (const m of this.metrics.values()) m.metric.reset();
    for (const s of samples) {
      const m = this.metrics.get(s.name);
      if (!m) throw new InternalError(`sample of unknown metric ${s.name}`);
      if (m.kind === 'counter') m.metric.inc(s.labels, s.value);
      else m.metric.set(s.labels, s.value);
    }
    return this.registry.metrics();
  }
}

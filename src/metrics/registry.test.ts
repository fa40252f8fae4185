import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FanMetricsRegistry } from './registry.js';
import { METRICS } from './samples.js';

describe('FanMetricsRegistry', () => {
  it('renders the samples of each scrape in the text format, dropping series that vanished', async () => {
    const registry = new FanMetricsRegistry();
    const first = await registry.render([
      { name: METRICS.txPackets.name, labels: { fan: 'fan-250' }, value: 12 },
      { name: METRICS.dropped.name, labels: { fan: 'fan-250', reason: 'spoofed_source' }, value: 0 },
      { name: METRICS.tunnelUp.name, labels: {}, value: 1 },
    ]);
    assert.match(first, /^# TYPE fan_transmit_packets_total counter$/m);
    assert.match(first, /^fan_transmit_packets_total\{fan="fan-250"\} 12$/m);
    assert.match(first, /^fan_dropped_packets_total\{fan="fan-250",reason="spoofed_source"\} 0$/m);
    assert.match(first, /^fan_tunnel_up 1$/m);
    const second = await registry.render([{ name: METRICS.txPackets.name, labels: { fan: 'fan-251' }, value: 3 }]);
    assert.match(second, /^fan_transmit_packets_total\{fan="fan-251"\} 3$/m);
    assert.doesNotMatch(second, /fan-250/);
    assert.match(registry.contentType, /^text\/plain/);
  });
  it('refuses a sample of a metric it does not know', async () => {
    await assert.rejects(
      new FanMetricsRegistry().render([{ name: 'fan_nope', labels: {}, value: 1 }]),
      /unknown metric fan_nope/,
    );
  });
});

/**
 * `fanctl metrics` on a 2-host lab (`fanpkm-…`): started inside host 1's namespace with that host's state dir, its
 * output passes `promtool check metrics`, a real Prometheus server in the same namespace scrapes it (queried through
 * its HTTP API on that namespace's loopback), and the counters move when containers ping across hosts and out.
 * Both processes are ended by their PID; labDown removes the namespaces and the lab's state dir.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { formatIpv4 } from '../../src/core/address/ipv4.js';
import { type BackgroundProcess, ExecRunner, startProcess } from '../../src/kernel/exec.js';
import { FANCTL, labDown, labUp } from '../../src/lab/lab.js';
import { DEFAULT_LAB, type LabTopology } from '../../src/lab/topology.js';

const NAME = 'fanpkm';
const root = new ExecRunner();
const METRICS_ADDRESS = '127.0.0.1:9474';
const PROMETHEUS_ADDRESS = '127.0.0.1:9090';

/** SIGTERM, then SIGKILL after 10 s; polls with a timer, which keeps the event loop alive while it waits. */
async function stop(p: BackgroundProcess): Promise<void> {
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(p.pid, name);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  for (let waited = 0; p.running() && waited < 10_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
  if (p.running()) signal('SIGKILL');
}

async function poll<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  alive: () => boolean = () => true,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (!alive()) throw new Error(`${what}: the process exited`);
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A sample's value from the text format (`name{labels} value`). */
function sampleValue(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('fanctl metrics scraped by Prometheus in a lab', { timeout: 300_000 }, () => {
  let topo: LabTopology;
  let ns: string;
  let metrics: BackgroundProcess | undefined;
  let prometheus: BackgroundProcess | undefined;
  const get = async (url: string): Promise<string | undefined> => {
    const out = await root.run(['ip', 'netns', 'exec', ns, 'curl', '-sf', '--max-time', '5', url], {
      allowFailure: true,
      timeoutMs: 10_000,
    });
    return out.exitCode === 0 ? out.stdout : undefined;
  };
  const scrape = async (): Promise<string> =>
    poll(
      'a scrape',
      () => get(`http://${METRICS_ADDRESS}/metrics`),
      15_000,
      () => metrics?.running() ?? false,
    );
  /** One instant-vector query; the value of its single series, or undefined while there is none. */
  const query = async (expr: string): Promise<number | undefined> => {
    const body = await get(`http://${PROMETHEUS_ADDRESS}/api/v1/query?query=${encodeURIComponent(expr)}`);
    if (body === undefined) return undefined;
    const result = (JSON.parse(body) as { data?: { result?: { value: [number, string] }[] } }).data?.result ?? [];
    return result.length === 1 && result[0] ? Number(result[0].value[1]) : undefined;
  };

  before(async () => {
    await labDown(NAME);
    topo = await labUp({ ...DEFAULT_LAB, name: NAME, hosts: 2, containers: 1 });
    const host = topo.hosts[0];
    assert.ok(host);
    ns = host.ns;
    metrics = startProcess(
      [
        'ip',
        'netns',
        'exec',
        ns,
        process.execPath,
        FANCTL,
        'metrics',
        '--listen',
        METRICS_ADDRESS,
        '--doctor-interval',
        '2',
      ],
      {
        env: { FAN_STATE_DIR: host.stateDir },
        logFile: `${topo.stateDir}/metrics.log`,
      },
    );
  });
  after(async () => {
    if (prometheus) await stop(prometheus);
    if (metrics) await stop(metrics);
    await labDown(NAME);
  });

  it('serves the fan, its containers and its IPAM pool, and passes promtool check metrics', async () => {
    const text = await scrape();
    assert.equal(sampleValue(text, 'fan_up', 'fan="fan-250"'), 1);
    assert.equal(sampleValue(text, 'fan_attached_containers', 'fan="fan-250"'), 1);
    assert.equal(sampleValue(text, 'fan_ipam_pool_addresses', 'fan="fan-250"'), 253);
    assert.equal(sampleValue(text, 'fan_mtu_bytes', 'fan="fan-250"'), 1450);
    assert.match(text, /^fan_tunnel_ebpf_programs 2$/m);
    assert.match(text, /^fan_nftables_table_present 1$/m);
    assert.match(text, /^fan_nftables_rule_packets_total\{rule="egress NAT to the underlay address"\} \d+$/m);
    const lint = await root.run(['promtool', 'check', 'metrics'], { input: text, allowFailure: true });
    assert.equal(lint.exitCode, 0, `promtool: ${lint.stdout}${lint.stderr}`);
  });

  it("counts the fan's up event and exports the doctor's verdicts, which follow a break and its fix", async () => {
    const text = await scrape();
    assert.equal(sampleValue(text, 'fan_events_total', 'fan="fan-250",event="up"'), 1);
    assert.equal(sampleValue(text, 'fan_events_total', 'fan="fan-250",event="repair"'), 0);
    assert.equal(sampleValue(text, 'fan_command_failures_total', 'command="up"'), 0);
    const verdict = async (want: string): Promise<string> =>
      poll(
        `the doctor's ip-forward verdict ${want}`,
        async () => {
          const t = await scrape();
          return sampleValue(t, 'fan_doctor_check_status', `check="ip-forward",verdict="${want}"`) === 1
            ? t
            : undefined;
        },
        60_000,
        () => metrics?.running() ?? false,
      );
    const healthy = await verdict('ok');
    assert.equal(sampleValue(healthy, 'fan_doctor_check_status', 'check="ip-forward",verdict="fail"'), 0);
    assert.match(healthy, /^fan_doctor_last_run_timestamp_seconds \d/m);
    await root.run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=0']);
    try {
      const broken = await verdict('fail');
      assert.ok(Number(/^fan_doctor_checks_failed (\d+)$/m.exec(broken)?.[1] ?? 0) >= 1, broken);
    } finally {
      await root.run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    }
    await verdict('ok');
  });

  it('is scraped by a real Prometheus server, and its counters move with traffic', async () => {
    const config = `${topo.stateDir}/prometheus.yml`;
    await writeFile(
      config,
      'global:\n  scrape_interval: 3s\n  scrape_timeout: 3s\n' +
        `scrape_configs:\n  - job_name: fan\n    static_configs:\n      - targets: ['${METRICS_ADDRESS}']\n`,
    );
    const check = await root.run(['promtool', 'check', 'config', config], { allowFailure: true });
    assert.equal(check.exitCode, 0, check.stdout + check.stderr);
    prometheus = startProcess(
      [
        'ip',
        'netns',
        'exec',
        ns,
        'prometheus',
        `--config.file=${config}`,
        `--storage.tsdb.path=${topo.stateDir}/prometheus-data`,
        `--web.listen-address=${PROMETHEUS_ADDRESS}`,
      ],
      { logFile: `${topo.stateDir}/prometheus.log` },
    );
    const alive = (): boolean => prometheus?.running() ?? false;
    assert.equal(
      await poll(
        'Prometheus scrapes fan (up == 1)',
        async () => ((await query('up{job="fan"}')) === 1 ? 1 : undefined),
        120_000,
        alive,
      ),
      1,
    );

    const [h1, h2] = topo.hosts;
    const c1 = h1?.containers[0];
    const c2 = h2?.containers[0];
    assert.ok(c1 && c2);
    const tx = 'fan_transmit_packets_total{fan="fan-250"}';
    const rx = 'fan_receive_packets_total{fan="fan-250"}';
    const nat = 'fan_nftables_rule_packets_total{rule="egress NAT to the underlay address"}';
    const baseline = await poll(
      'the counters in Prometheus',
      async () => {
        const [t, r, n] = [await query(tx), await query(rx), await query(nat)];
        return t === undefined || r === undefined || n === undefined ? undefined : { t, r, n };
      },
      60_000,
      alive,
    );
    const direct = await scrape();

    const count = 20;
    const ping = await new ExecRunner(c1.ns).run(
      ['ping', '-n', '-q', '-c', String(count), '-i', '0.05', '-W', '2', formatIpv4(c2.address)],
      { allowFailure: true, timeoutMs: 30_000 },
    );
    assert.equal(ping.exitCode, 0, `cross-host ping: ${ping.stdout}${ping.stderr}`);
    const outside = await new ExecRunner(c1.ns).run(
      ['ping', '-n', '-q', '-c', '2', '-W', '2', formatIpv4(topo.outside.address)],
      { allowFailure: true, timeoutMs: 15_000 },
    );
    assert.equal(outside.exitCode, 0, `ping outside: ${outside.stdout}${outside.stderr}`);

    // The endpoint itself, straight after the traffic: at least the echo requests went out, the replies came in.
    const after = await scrape();
    const moved = (text: string, name: string): number =>
      (sampleValue(text, name, 'fan="fan-250"') ?? NaN) - (sampleValue(direct, name, 'fan="fan-250"') ?? NaN);
    assert.ok(
      moved(after, 'fan_transmit_packets_total') >= count,
      `tx moved by ${moved(after, 'fan_transmit_packets_total')}`,
    );
    assert.ok(
      moved(after, 'fan_receive_packets_total') >= count,
      `rx moved by ${moved(after, 'fan_receive_packets_total')}`,
    );
    assert.ok(
      moved(after, 'fan_transmit_bytes_total') >= count * 84,
      `tx bytes moved by ${moved(after, 'fan_transmit_bytes_total')}`,
    );

    // And Prometheus sees the same movement on a later scrape.
    const seen = await poll(
      'Prometheus sees the counters move',
      async () => {
        const [t, r, n] = [await query(tx), await query(rx), await query(nat)];
        if (t === undefined || r === undefined || n === undefined) return undefined;
        return t - baseline.t >= count && r - baseline.r >= count && n - baseline.n >= 1 ? { t, r, n } : undefined;
      },
      90_000,
      alive,
    );
    assert.ok(seen.t - baseline.t >= count);
    assert.equal(await query('fan_up{fan="fan-250"}'), 1);
  });
});

/**
 * Test-only: a simulated host behind the CommandRunner and System ports. It understands the ip, tc, bpftool, nft,
 * iptables, sysctl and dnsmasq command lines fan renders, keeps the resulting state in memory, records every call,
 * and can fail the Nth changing call, so the apply, rollback and read-back logic is tested without root or a kernel.
 * Never imported by production code.
 */
import { type Cidr, formatCidr, formatIpv4, parseCidr, parseIpv4 } from '../core/address/ipv4.js';
import type { RunOptions, RunResult } from '../ports/runner.js';
import type { CommandRunner } from '../ports/runner.js';
import type { System } from '../ports/system.js';

export interface FakeLink {
  name: string;
  kind: string;
  mtu: number;
  up: boolean;
  mac: string;
  alias?: string;
  group?: string;
  master?: string;
  addresses: Cidr[];
}

interface FakeRoute {
  dst: Cidr;
  dev: string;
  via?: number;
  src?: number;
  mtu?: number;
  protocol: string;
}

interface FakeProgram {
  id: number;
  dev: string;
  direction: string;
  section: string;
  overlayMap: number;
  statsMap: number;
}

/** Calls that only look: everything else changes the host (and can be made to fail). */
function isRead(argv: readonly string[]): boolean {
  const text = argv.join(' ');
  return (
    /^ip (-json|-j)\b/.test(text) ||
    /^bpftool -j (net|prog|map) (show|dump)/.test(text) ||
    /^nft (-j )?list /.test(text) ||
    /^iptables -w -S/.test(text) ||
    /^tc -j qdisc show$/.test(text) ||
    /^(ip -V|tc -V|bpftool version|nft --version|dnsmasq --version)$/.test(text)
  );
}

const ok = (stdout = ''): RunResult => ({ stdout, stderr: '', exitCode: 0 });
const fail = (stderr: string, exitCode = 2): RunResult => ({ stdout: '', stderr, exitCode });

export class FakeKernel implements CommandRunner, System {
  links = new Map<string, FakeLink>();
  routes: FakeRoute[] = [];
  neighbours: { dev: string; address: number; mac: string }[] = [];
  qdiscs = new Set<string>();
  programs: FakeProgram[] = [];
  maps = new Map<number, Map<string, string>>();
  nftTable: string | undefined;
  /** Table bridge fan-bind as loaded (the element changes of attachments are accepted, not applied). */
  bindTable: string | undefined;
  iptables: { chain: string; words: string[] }[] = [];
  chains = new Set(['INPUT', 'FORWARD', 'OUTPUT']);
  sysctls = new Map<string, string>([['net.ipv4.ip_forward', '0']]);
  files = new Map<string, string>();
  processes = new Map<number, string>();
  /** Every call, in order. */
  readonly calls: { argv: readonly string[]; input?: string }[] = [];
  /** Fail the Nth changing call (1-based) with exit 2; undefined: never. */
  failAt: number | undefined;
  /** The call that got the injected failure. */
  failed: readonly string[] | undefined;
  private changing = 0;
  private nextId = 100;

  constructor(links: readonly Partial<FakeLink>[] = []) {
    this.links.set('lo', {
      name: 'lo',
      kind: 'loopback',
      mtu: 65536,
      up: true,
      mac: '00:00:00:00:00:00',
      addresses: [parseCidr('127.0.0.1/8')],
    });
    for (const l of links) this.addLink(l);
  }

  addLink(l: Partial<FakeLink>): void {
    const name = l.name ?? `if${this.nextId++}`;
    this.links.set(name, { kind: 'ether', mtu: 1500, up: true, mac: this.mac(), addresses: [], ...l, name });
  }

  /** Changing calls so far. */
  get changes(): number {
    return this.changing;
  }

  /** The host as data, with what cannot matter (program ids) left out: equal snapshots are equal hosts. */
  snapshot(): unknown {
    return structuredClone({
      links: [...this.links.values()].sort((a, b) => a.name.localeCompare(b.name)),
      routes: [...this.routes].sort((a, b) => formatCidr(a.dst).localeCompare(formatCidr(b.dst))),
      neighbours: this.neighbours,
      qdiscs: [...this.qdiscs].sort(),
      programs: this.programs
        .map((p) => ({
          dev: p.dev,
          direction: p.direction,
          section: p.section,
          table: [...(this.maps.get(p.overlayMap) ?? [])].sort(),
        }))
        .sort((a, b) => `${a.dev}${a.direction}`.localeCompare(`${b.dev}${b.direction}`)),
      nft: this.nftTable,
      iptables: this.iptables,
      sysctls: [...this.sysctls].sort(),
      // A daemon started again by a rollback has another pid: what matters is that it runs with the same spec.
      files: [...this.files]
        .map(([path, text]) => [path, /dnsmasq\.(json|pid)$/.test(path) ? text.replace(/\d+/, 'PID') : text])
        .sort(),
      processes: [...this.processes.values()].sort(),
    });
  }

  private mac(): string {
    const n = this.nextId++;
    return `02:00:00:00:${((n >> 8) & 255).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`;
  }

  // --- System ---
  async read(path: string): Promise<string | undefined> {
    if (path.startsWith('/proc/sys/')) return this.sysctls.get(path.slice('/proc/sys/'.length).replaceAll('/', '.'));
    return this.files.get(path);
  }
  async write(path: string, text: string): Promise<void> {
    this.files.set(path, text);
  }
  async remove(path: string): Promise<void> {
    this.files.delete(path);
  }
  async list(dir: string): Promise<string[]> {
    const prefix = `${dir}/`;
    return [...this.files.keys()]
      .filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/'))
      .map((p) => p.slice(prefix.length));
  }
  async command(pid: number): Promise<string | undefined> {
    return this.processes.get(pid);
  }
  signal(pid: number): void {
    this.processes.delete(pid);
  }
  async sleep(): Promise<void> {}

  // --- CommandRunner ---
  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    this.calls.push({ argv: [...argv], ...(options.input !== undefined ? { input: options.input } : {}) });
    let result: RunResult;
    if (!isRead(argv) && this.failAt !== undefined && ++this.changing === this.failAt) {
      result = fail('injected failure');
      this.failed = [...argv];
    } else {
      if (!isRead(argv) && this.failAt === undefined) this.changing++;
      result = this.execute(argv, options.input ?? '');
    }
    if (result.exitCode !== 0 && !options.allowFailure) {
      throw new Error(`fake: ${argv.join(' ')} failed: ${result.stderr}`);
    }
    return result;
  }

  private execute(argv: readonly string[], input: string): RunResult {
    const [tool, ...args] = argv;
    switch (tool) {
      case 'ip':
        return this.ip(args);
      case 'tc':
        return this.tc(args);
      case 'bpftool':
        return this.bpftool(args, input);
      case 'nft':
        return this.nft(args, input);
      case 'iptables':
        return this.iptablesCmd(args);
      case 'sysctl': {
        const [key, value] = (args[args.length - 1] ?? '').split('=');
        if (key === undefined || value === undefined) return fail('sysctl: bad argument');
        if (key.startsWith('net.ipv6.conf.')) return ok();
        this.sysctls.set(key, value);
        return ok();
      }
      case 'dnsmasq': {
        if (args[0] === '--version') return ok('Dnsmasq version 2.89');
        const pidFile = args.find((a) => a.startsWith('--pid-file='))?.slice('--pid-file='.length);
        const pid = this.nextId++;
        this.processes.set(pid, 'dnsmasq');
        if (pidFile) this.files.set(pidFile, `${pid}\n`);
        return ok();
      }
      default:
        return fail(`${tool ?? ''}: command not found`, 127);
    }
  }

  private ip(args: readonly string[]): RunResult {
    const words = args.filter((a) => a !== '-json' && a !== '-details' && a !== '-4' && a !== '-d' && a !== '-j');
    const [object, verb, ...rest] = words;
    if (args[0] === '-V') return ok('ip utility, iproute2-6.1.0');
    if (object === 'address' && verb === 'show')
      return ok(JSON.stringify([...this.links.values()].map((l) => this.linkJson(l))));
    if (object === 'route' && verb === 'show') return ok(JSON.stringify(this.routes.map((r) => this.routeJson(r))));
    if (object === 'neigh' && verb === 'show') {
      return ok(
        JSON.stringify(
          this.neighbours.map((n) => ({ dst: formatIpv4(n.address), dev: n.dev, lladdr: n.mac, state: ['PERMANENT'] })),
        ),
      );
    }
    if (object === 'link') return this.ipLink(verb ?? '', rest);
    if (object === 'address') return this.ipAddress(verb ?? '', rest);
    if (object === 'route') return this.ipRoute(verb ?? '', rest);
    if (object === 'neigh') return this.ipNeigh(verb ?? '', rest);
    return fail(`ip: unsupported ${args.join(' ')}`);
  }

  private linkJson(l: FakeLink): object {
    return {
      ifname: l.name,
      mtu: l.mtu,
      flags: l.up ? ['UP'] : [],
      address: l.mac,
      ...(l.master ? { master: l.master } : {}),
      ...(l.alias ? { ifalias: l.alias } : {}),
      group: l.group ?? 'default',
      linkinfo: { info_kind: l.kind },
      addr_info: l.addresses.map((a) => ({ family: 'inet', local: formatIpv4(a.address), prefixlen: a.prefix })),
    };
  }

  private routeJson(r: FakeRoute): object {
    return {
      dst: formatCidr(r.dst),
      dev: r.dev,
      protocol: r.protocol,
      ...(r.via !== undefined ? { gateway: formatIpv4(r.via) } : {}),
      ...(r.src !== undefined ? { prefsrc: formatIpv4(r.src) } : {}),
      ...(r.mtu !== undefined ? { metrics: [{ mtu: r.mtu }] } : {}),
    };
  }

  private option(words: readonly string[], name: string): string | undefined {
    const at = words.indexOf(name);
    return at < 0 ? undefined : words[at + 1];
  }

  private ipLink(verb: string, w: readonly string[]): RunResult {
    if (verb === 'add') {
      const name = w[0] ?? '';
      if (this.links.has(name)) return fail('RTNETLINK answers: File exists');
      const kind = this.option(w, 'type') ?? 'ether';
      const group = this.option(w, 'group');
      this.links.set(name, {
        name,
        kind,
        mtu: Number(this.option(w, 'mtu') ?? 1500),
        up: false,
        mac: this.option(w, 'address') ?? this.mac(),
        addresses: [],
        ...(group !== undefined ? { group } : {}),
      });
      return ok();
    }
    if (verb === 'del') {
      const name = w[0] ?? '';
      if (!this.links.delete(name)) return fail('Cannot find device');
      for (const l of this.links.values()) if (l.master === name) delete l.master;
      this.routes = this.routes.filter((r) => r.dev !== name);
      this.neighbours = this.neighbours.filter((n) => n.dev !== name);
      this.qdiscs.delete(name);
      this.programs = this.programs.filter((p) => p.dev !== name);
      return ok();
    }
    if (verb === 'set') {
      const words = w[0] === 'dev' ? w.slice(1) : w;
      const link = this.links.get(words[0] ?? '');
      if (!link) return fail('Cannot find device');
      for (let i = 1; i < words.length; i++) {
        const word = words[i];
        if (word === 'up') link.up = true;
        else if (word === 'down') link.up = false;
        else if (word === 'mtu') link.mtu = Number(words[++i]);
        else if (word === 'alias') link.alias = words[++i] ?? '';
        else if (word === 'master') link.master = words[++i] ?? '';
        else if (word === 'nomaster') delete link.master;
        else if (word === 'arp') i++;
        else return fail(`ip link set: unsupported ${word ?? ''}`);
      }
      return ok();
    }
    return fail(`ip link ${verb}: unsupported`);
  }

  private ipAddress(verb: string, w: readonly string[]): RunResult {
    const cidr = parseCidr(w[0] ?? '');
    const link = this.links.get(this.option(w, 'dev') ?? '');
    if (!link) return fail('Cannot find device');
    const at = link.addresses.findIndex((a) => a.address === cidr.address && a.prefix === cidr.prefix);
    if (verb === 'add') {
      if (at >= 0) return fail('RTNETLINK answers: File exists');
      link.addresses.push(cidr);
      return ok();
    }
    if (at < 0) return fail('RTNETLINK answers: Cannot assign requested address');
    link.addresses.splice(at, 1);
    return ok();
  }

  private ipRoute(verb: string, w: readonly string[]): RunResult {
    const dst = parseCidr(w[0] ?? '');
    const same = (r: FakeRoute): boolean => r.dst.address === dst.address && r.dst.prefix === dst.prefix;
    if (verb === 'del') {
      const at = this.routes.findIndex(same);
      if (at < 0) return fail('RTNETLINK answers: No such process');
      this.routes.splice(at, 1);
      return ok();
    }
    const dev = this.option(w, 'dev') ?? '';
    if (!this.links.has(dev)) return fail('Cannot find device');
    const via = this.option(w, 'via');
    const src = this.option(w, 'src');
    const mtu = this.option(w, 'mtu');
    this.routes = this.routes.filter((r) => !same(r));
    this.routes.push({
      dst,
      dev,
      protocol: this.option(w, 'proto') ?? 'boot',
      ...(via !== undefined ? { via: parseIpv4(via) } : {}),
      ...(src !== undefined ? { src: parseIpv4(src) } : {}),
      ...(mtu !== undefined ? { mtu: Number(mtu) } : {}),
    });
    return ok();
  }

  private ipNeigh(verb: string, w: readonly string[]): RunResult {
    const address = parseIpv4(w[0] ?? '');
    const dev = this.option(w, 'dev') ?? '';
    const at = this.neighbours.findIndex((n) => n.address === address && n.dev === dev);
    if (verb === 'del') {
      if (at < 0) return fail('RTNETLINK answers: No such file or directory');
      this.neighbours.splice(at, 1);
      return ok();
    }
    if (!this.links.has(dev)) return fail('Cannot find device');
    if (at >= 0) this.neighbours.splice(at, 1);
    this.neighbours.push({ dev, address, mac: this.option(w, 'lladdr') ?? '' });
    return ok();
  }

  private tc(args: readonly string[]): RunResult {
    if (args[0] === '-V') return ok('tc utility, iproute2-6.1.0');
    if (args.join(' ') === '-j qdisc show') {
      return ok(JSON.stringify([...this.qdiscs].map((dev) => ({ kind: 'clsact', handle: 'ffff:', dev }))));
    }
    const [object, verb, , dev = ''] = args;
    if (!this.links.has(dev)) return fail('Cannot find device');
    if (object === 'qdisc') {
      if (verb === 'add' && this.qdiscs.has(dev)) return fail('Error: Exclusivity flag on, cannot modify.');
      if (verb === 'del') {
        if (!this.qdiscs.delete(dev)) return fail('Error: Cannot find specified qdisc on specified device.');
        this.programs = this.programs.filter((p) => p.dev !== dev);
        return ok();
      }
      this.qdiscs.add(dev);
      return ok();
    }
    const direction = args[4] ?? '';
    if (verb === 'del') {
      const before = this.programs.length;
      this.programs = this.programs.filter((p) => !(p.dev === dev && p.direction === direction));
      return before === this.programs.length ? fail('Error: Cannot find specified filter chain.') : ok();
    }
    if (!this.qdiscs.has(dev)) return fail('Error: Cannot find specified qdisc on specified device.');
    const section = this.option(args, 'sec') ?? '';
    const overlayMap = this.nextId++;
    const statsMap = this.nextId++;
    this.maps.set(overlayMap, new Map());
    this.maps.set(statsMap, new Map());
    this.programs = this.programs.filter((p) => !(p.dev === dev && p.direction === direction));
    this.programs.push({ id: this.nextId++, dev, direction, section, overlayMap, statsMap });
    return ok();
  }

  private bpftool(args: readonly string[], input: string): RunResult {
    const text = args.join(' ');
    if (text === 'version') return ok('bpftool v7.1.0');
    if (text === '-j net show') {
      const tc = this.programs.map((p) => ({
        devname: p.dev,
        ifindex: 1,
        kind: `clsact/${p.direction}`,
        name: `fan.bpf.o:[${p.section}]`,
        id: p.id,
      }));
      return ok(JSON.stringify([{ xdp: [], tc, flow_dissector: [] }]));
    }
    if (text === '-j prog show') {
      const name = (p: FakeProgram): string => (p.section === 'tc/hostgw' ? 'fan_hostgw' : `fan_${p.direction}`);
      return ok(
        JSON.stringify(this.programs.map((p) => ({ id: p.id, name: name(p), map_ids: [p.overlayMap, p.statsMap] }))),
      );
    }
    if (text === '-j map show') {
      return ok(
        JSON.stringify(
          this.programs.flatMap((p) => [
            { id: p.overlayMap, name: 'fan_overlays' },
            { id: p.statsMap, name: 'fan_stats' },
          ]),
        ),
      );
    }
    const dump = /^-j map dump id (\d+)$/.exec(text);
    if (dump) {
      const map = this.maps.get(Number(dump[1]));
      if (!map) return fail('Error: get map by id: No such file or directory');
      const entries = [...map].map(([key, value]) => ({ key: key.split(' '), value: value.split(' ') }));
      return ok(JSON.stringify(entries));
    }
    if (text === 'batch file -') {
      for (const line of input.split('\n').filter(Boolean)) {
        const m = /^map update id (\d+) key hex ((?:[0-9a-f]{2} ?){4}) value hex (.*)$/.exec(line);
        const map = m ? this.maps.get(Number(m[1])) : undefined;
        if (!m || !map) return fail(`Error: bad batch line ${line}`);
        map.set((m[2] ?? '').trim(), (m[3] ?? '').trim());
      }
      return ok();
    }
    return fail(`bpftool: unsupported ${text}`);
  }

  private bindNft(text: string, input: string): RunResult | undefined {
    if (text === 'list table bridge fan-bind')
      return this.bindTable ? ok(this.bindTable) : fail('Error: No such file or directory');
    if (text === '-j list table bridge fan-bind') {
      if (!this.bindTable) return fail('Error: No such file or directory');
      const items: unknown[] = [];
      for (const m of this.bindTable.matchAll(/\tset (\w+) \{\n[^}]*?(?:elements = \{ ([^}]*) \}\n)?\t\}/g)) {
        const elem = (m[2] ?? '')
          .split(', ')
          .filter(Boolean)
          .map((e) => {
            const [a, b] = e.split(' . ');
            const name = (a ?? '').replace(/"/g, '');
            return b === undefined ? name : { concat: [name, b] };
          });
        items.push({ set: { name: m[1], elem } });
      }
      for (const m of this.bindTable.matchAll(/counter drop comment "([^"]*)"/g)) {
        items.push({ rule: { comment: m[1], expr: [{ counter: { packets: 0, bytes: 0 } }] } });
      }
      return ok(JSON.stringify({ nftables: items }));
    }
    if (text !== '-f -' || !/^(table|add element|delete element) bridge fan-bind/.test(input)) return undefined;
    if (input.startsWith('table bridge fan-bind\ndelete table bridge fan-bind\n')) {
      const rest = input.slice('table bridge fan-bind\ndelete table bridge fan-bind\n'.length);
      this.bindTable = rest === '' ? undefined : rest;
      return ok();
    }
    return this.bindTable ? ok() : fail('Error: No such file or directory');
  }

  private nft(args: readonly string[], input: string): RunResult {
    const text = args.join(' ');
    const bind = this.bindNft(text, input);
    if (bind) return bind;
    if (text === '--version') return ok('nftables v1.0.6');
    if (text === 'list tables') return ok(this.nftTable ? 'table ip fan\n' : '');
    if (text === 'list table ip fan')
      return this.nftTable ? ok(this.nftTable) : fail('Error: No such file or directory');
    if (text === 'delete table ip fan') {
      if (!this.nftTable) return fail('Error: No such file or directory');
      this.nftTable = undefined;
      return ok();
    }
    if (text === '-f -') {
      // fan's scripts: create-if-absent, delete, then the whole table.
      const marker = 'delete table ip fan\n';
      const at = input.indexOf(marker);
      if (at < 0) return fail('Error: unsupported script');
      this.nftTable = input.slice(at + marker.length);
      return ok();
    }
    return fail(`nft: unsupported ${text}`);
  }

  private iptablesCmd(args: readonly string[]): RunResult {
    const [, verb, chain = '', ...words] = args; // args[0] is -w
    if (verb === '-S') {
      const lines = ['-P INPUT ACCEPT', '-P FORWARD ACCEPT', '-P OUTPUT ACCEPT'];
      for (const c of this.chains) if (!['INPUT', 'FORWARD', 'OUTPUT'].includes(c)) lines.push(`-N ${c}`);
      for (const r of this.iptables)
        lines.push(`-A ${r.chain} ${r.words.map((w) => (w.includes(' ') ? `"${w}"` : w)).join(' ')}`);
      return ok(`${lines.join('\n')}\n`);
    }
    if (!this.chains.has(chain)) return fail(`iptables: No chain/target/match by that name.`, 1);
    if (verb === '-I') {
      this.iptables.unshift({ chain, words: [...words] });
      return ok();
    }
    const at = this.iptables.findIndex((r) => r.chain === chain && r.words.join(' ') === words.join(' '));
    if (at < 0) return fail('iptables: Bad rule (does a matching rule exist in that chain?).', 1);
    this.iptables.splice(at, 1);
    return ok();
  }
}

/** A fake host with eth0 on 172.16.3.4/16 (MTU 1500), IP forwarding off, no fan objects. */
export function fakeFanHost(): FakeKernel {
  const kernel = new FakeKernel([{ name: 'eth0', mac: '02:00:ac:10:03:04', addresses: [parseCidr('172.16.3.4/16')] }]);
  kernel.routes.push({ dst: parseCidr('172.16.0.0/16'), dev: 'eth0', protocol: 'kernel' });
  kernel.routes.push({ dst: { address: 0, prefix: 0 }, dev: 'eth0', via: parseIpv4('172.16.0.1'), protocol: 'boot' });
  return kernel;
}

/**
 * Anti-spoofing on a 2-host lab (namespaces `fnsf-…`, removed by labDown, also when a test fails): containers are
 * attached through the fan CNI plugin, so each host veth is bound to its MAC and address. A container tries to
 * inject tunnel traffic through its own host (a raw VXLAN packet to the host's underlay address with a forged outer
 * and inner source), to reach the host with a forged underlay source, and to send to another host from another
 * container's address or a reserved one. Every attempt must be dropped and counted; legit traffic still passes.
 * Raw packets are built with python3's SOCK_RAW (IP_HDRINCL) inside the container's namespace.
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { formatIpv4, u32 } from '../../src/core/address/ipv4.js';
import { TUNNEL_MAC, VXLAN_PORT } from '../../src/backends/vxlan/backend.js';
import { carriesVxlan } from '../../src/backends/registry.js';
import { decodeNftRuleCounters } from '../../src/codec/nft-rule-counters.js';
import { decodeBindJson } from '../../src/codec/bind-nft.js';
import { ExecRunner } from '../../src/kernel/exec.js';
import { fanctl, labDown, labUp } from '../../src/lab/lab.js';
import { e2eLab } from './helpers.js';
import { type LabHost, type LabTopology } from '../../src/lab/topology.js';
import { execFanCni } from '../lab/cni-runtime.js';

const NAME = 'fnsf';
const root = new ExecRunner();

/** Prints "ready" once bound, then one line per datagram received on UDP PORT: its source and payload. */
const LISTENER = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(65535)
    print(peer[0], data.decode(errors="replace"), flush=True)
`;

/**
 * Sends one IPv4/UDP packet with any source through a raw socket: argv SRC DST SPORT DPORT PAYLOAD_HEX. With
 * VXLAN=VNI,MAC,INNER_SRC,INNER_DST,INNER_DPORT in the environment, the payload is wrapped as a VXLAN frame.
 */
const RAW_SENDER = `
import os, socket, struct, sys
def csum(b):
    if len(b) % 2: b += b"\\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
def ip_udp(src, dst, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0x1234, 0, 64, 17, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + udp
src, dst, sport, dport, payload = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
bytes.fromhex(sys.argv[5])
vx = os.environ.get("VXLAN")
if vx:
    vni, mac, isrc, idst, idport = vx.split(",")
    inner = ip_udp(isrc, idst, 40000, int(idport), payload)
    eth = bytes.fromhex(mac.replace(":", "")) + bytes.fromhex("0242ac100c05") + b"\\x08\\x00"
    payload = struct.pack("!II", 0x08000000, int(vni) << 8) + eth + inner
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
s.sendto(ip_udp(src, dst, sport, dport, payload), (dst, 0))
`;

interface Ctr {
  readonly host: LabHost;
  readonly ns: string;
  readonly address: string;
}

class Listener {
  lines: string[] = [];
  private constructor(readonly child: ChildProcessWithoutNullStreams) {}

  static async start(ns: string, port: number): Promise<Listener> {
    const child = spawn('ip', ['netns', 'exec', ns, 'python3', '-u', '-c', LISTENER, String(port)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const l = new Listener(child);
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      l.lines.push(...parts);
    });
    await l.until('the listener to start', (lines) => lines.includes('ready'));
    return l;
  }

  async until(what: string, check: (lines: readonly string[]) => boolean, timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (check(this.lines)) return;
      await sleep(50);
    }
    assert.fail(`timed out waiting for ${what}; got: ${this.lines.join(' | ')}`);
  }

  received(marker: string): boolean {
    return this.lines.some((l) => l.includes(marker));
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

async function sendRaw(
  ns: string,
  packet: { src: string; dst: string; sport: number; dport: number; payload: string },
  vxlan?: { vni: number; innerSrc: string; innerDst: string; innerPort: number },
): Promise<void> {
  const env = vxlan
    ? ['env', `VXLAN=${vxlan.vni},${TUNNEL_MAC},${vxlan.innerSrc},${vxlan.innerDst},${vxlan.innerPort}`]
    : [];
  const hex = Buffer.from(packet.payload).toString('hex');
  const args = [packet.src, packet.dst, String(packet.sport), String(packet.dport), hex];
  await root.run(['ip', 'netns', 'exec', ns, ...env, 'python3', '-c', RAW_SENDER, ...args]);
}

/** A plain datagram from the namespace's own stack, from `from` when given. */
async function sendUdp(ns: string, to: string, port: number, payload: string, from?: string): Promise<void> {
  const bind = from !== undefined ? `s.bind(("${from}", 0)); ` : '';
  const code =
    `import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); ` +
    `${bind}s.sendto(b"${payload}", ("${to}", ${port}))`;
  await root.run(['ip', 'netns', 'exec', ns, 'python3', '-c', code]);
}

/** Packets counted by the rules of fan's tables whose comment matches. */
async function dropped(host: LabHost, table: 'ip fan' | 'bridge fan-bind', comment: RegExp): Promise<number> {
  const out = await root.run(['ip', 'netns', 'exec', host.ns, 'nft', '-j', 'list', 'table', ...table.split(' ')]);
  const counters = table === 'ip fan' ? decodeNftRuleCounters(out.stdout) : decodeBindJson(out.stdout).counters;
  return counters.filter((c) => comment.test(c.rule)).reduce((n, c) => n + c.packets, 0);
}

/** Every drop of both tables (the binding layer, then fan's ip table). */
async function droppedAll(host: LabHost): Promise<number> {
  return (await dropped(host, 'bridge fan-bind', /./)) + (await dropped(host, 'ip fan', /anti-spoofing|tunnel port/));
}

describe('anti-spoofing on a 2-host lab', { timeout: 300_000 }, () => {
  let topo: LabTopology;
  const listeners: Listener[] = [];
  let h1: LabHost;
  let h2: LabHost;
  let target: Ctr; // on h1
  let attacker: Ctr; // on h1
  let remote: Ctr; // on h2
  /** A container plugged into the bridge by hand (no port binding): only fan's ip table stands in its way. */
  let unbound: Ctr; // on h1
  let seq = 0;

  /** A CNI container at SLICE.LAST (the lab's own containers take the first addresses, outside fan's IPAM). */
  async function container(host: LabHost, last: number): Promise<Ctr> {
    const n = ++seq;
    const ns = `${NAME}-${host.name}-k${n}`;
    await root.run(['ip', 'netns', 'add', ns]);
    await root.run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    const out = await execFanCni(
      host,
      {
        command: 'ADD',
        containerId: `fnsf${n}x${Date.now().toString(16)}`,
        netns: `/var/run/netns/${ns}`,
        ifname: 'eth0',
        args: `IP=${formatIpv4(u32(250 * 2 ** 24 + (host.underlay.address & 0xffff) * 256 + last))}`,
      },
      { cniVersion: '1.0.0', name: NAME, type: 'fan' },
    );
    assert.equal(out.exitCode, 0, out.stdout + out.stderr);
    const address = ((out.json?.ips as { address: string }[] | undefined)?.[0]?.address ?? '').split('/')[0] ?? '';
    return { host, ns, address };
  }

  /** A veth on the fan bridge made with ip alone, addressed SLICE.LAST: a port fan never bound. */
  async function handMade(host: LabHost, last: string): Promise<Ctr> {
    const ns = `${NAME}-${host.name}-raw`;
    const base = target.address.split('.').slice(0, 3).join('.');
    await root.run(['ip', 'netns', 'add', ns]);
    await root.run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    await root.run([
      'ip',
      'link',
      'add',
      'eth0',
      'netns',
      ns,
      'mtu',
      '1450',
      'type',
      'veth',
      'peer',
      'name',
      'fnsfraw',
      'netns',
      host.ns,
    ]);
    await root.run(['ip', '-n', host.ns, 'link', 'set', 'fnsfraw', 'master', 'fan-250', 'up']);
    await root.run(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    await root.run(['ip', '-n', ns, 'address', 'add', `${base}.${last}/24`, 'dev', 'eth0']);
    await root.run(['ip', '-n', ns, 'route', 'add', 'default', 'via', `${base}.1`, 'dev', 'eth0']);
    return { host, ns, address: `${base}.${last}` };
  }

  const listen = async (ns: string, port: number): Promise<Listener> => {
    const l = await Listener.start(ns, port);
    listeners.push(l);
    return l;
  };

  before(async () => {
    await labDown(NAME);
    topo = await labUp({ ...e2eLab(), name: NAME, hosts: 2, containers: 1 });
    [h1, h2] = [topo.hosts[0] ?? assert.fail(), topo.hosts[1] ?? assert.fail()];
    target = await container(h1, 20);
    attacker = await container(h1, 21);
    remote = await container(h2, 20);
    unbound = await handMade(h1, '200');
  });

  after(async () => {
    for (const l of listeners) l.stop();
    await labDown(NAME);
  });

  it("binds every attached port: the lab's own containers and the CNI plugin's, with their MAC", async () => {
    const out = await fanctl(h1, ['port', 'list', '--json']);
    const list = JSON.parse(out.stdout) as { port: string; mac: string; addresses: string[] }[];
    const lab = h1.containers[0] ?? assert.fail();
    assert.ok(
      list.some((b) => b.port === lab.hostIf && b.addresses.includes(formatIpv4(lab.address))),
      out.stdout,
    );
    for (const c of [target, attacker])
      assert.ok(
        list.some((b) => b.addresses.includes(c.address)),
        out.stdout,
      );
    assert.ok(!list.some((b) => b.port === 'fnsfraw'), 'the hand-made port is not bound');
    const mac = (await root.run(['ip', '-n', lab.ns, '-json', 'link', 'show', 'dev', 'eth0'])).stdout;
    assert.ok(
      list.some((b) => b.port === lab.hostIf && mac.includes(b.mac)),
      `container MAC is the bound one: ${mac}`,
    );
  });

  const tunnel = carriesVxlan(e2eLab());
  it(
    'a raw VXLAN packet from a container to its own host, forged as from host 2, is not delivered',
    {
      skip: !tunnel && `the ${e2eLab().type} data plane has no VXLAN tunnel to inject into`,
    },
    async () => {
      const l = await listen(target.ns, 9999);
      // Legit first: host 2's container reaches the target through the tunnel.
      await sendUdp(remote.ns, target.address, 9999, 'legit-from-h2');
      await l.until('the legit datagram', () => l.received('legit-from-h2'));
      // The bound port's packets already fall to its binding (bridge fan-bind); the unbound one's to table ip fan.
      const beforeBound = await droppedAll(h1);
      const before = await dropped(h1, 'ip fan', /tunnel port from a container/);
      const vni = 250 << 16; // overlay 250.0.0.0/8 >> 8
      for (let i = 0; i < 6; i++) {
        await sendRaw(
          (i % 2 === 0 ? attacker : unbound).ns,
          {
            src: formatIpv4(h2.underlay.address),
            dst: formatIpv4(h1.underlay.address),
            sport: 40001,
            dport: VXLAN_PORT,
            payload: `injected${i}`,
          },
          { vni, innerSrc: remote.address, innerDst: target.address, innerPort: 9999 },
        );
      }
      await sendUdp(remote.ns, target.address, 9999, 'legit-after');
      await l.until('the second legit datagram', () => l.received('legit-after'));
      await sleep(500);
      assert.equal(l.received('injected'), false, `injected packets delivered: ${l.lines.join(' | ')}`);
      assert.ok((await dropped(h1, 'ip fan', /tunnel port from a container/)) >= before + 3, 'unbound port: counted');
      assert.ok((await droppedAll(h1)) >= beforeBound + 6, 'every drop is counted');
    },
  );

  it('plain UDP from a container with a forged underlay source does not reach its host', async () => {
    const l = await listen(h1.ns, 9998);
    await sendUdp(attacker.ns, formatIpv4(h1.underlay.address), 9998, 'legit-to-host');
    await l.until('the legit datagram to the host', () => l.received('legit-to-host'));
    const before = await dropped(h1, 'ip fan', /anti-spoofing into the host/);
    const beforeAll = await droppedAll(h1);
    for (const from of [attacker, unbound]) {
      await sendRaw(from.ns, {
        src: formatIpv4(h2.underlay.address),
        dst: formatIpv4(h1.underlay.address),
        sport: 40002,
        dport: 9998,
        payload: 'forged-underlay',
      });
    }
    await sendUdp(attacker.ns, formatIpv4(h1.underlay.address), 9998, 'legit-again');
    await l.until('the second legit datagram', () => l.received('legit-again'));
    await sleep(500);
    assert.equal(l.received('forged-underlay'), false, `forged packet reached the host: ${l.lines.join(' | ')}`);
    assert.ok((await dropped(h1, 'ip fan', /anti-spoofing into the host/)) > before, 'unbound port: counted');
    assert.ok((await droppedAll(h1)) >= beforeAll + 2, 'every drop is counted');
  });

  it("a container sending from another container's address or a reserved one is dropped and counted", async () => {
    const l = await listen(remote.ns, 9997);
    await sendUdp(attacker.ns, remote.address, 9997, 'legit-own');
    await l.until('the legit datagram from its own address', () => l.received('legit-own'));
    const sliceBase = target.address.split('.').slice(0, 3).join('.');
    const forged = [
      { address: target.address, marker: 'as-neighbour' },
      { address: `${sliceBase}.0`, marker: 'as-reserved' },
    ];
    const before = await dropped(h1, 'bridge fan-bind', /./);
    for (const f of forged) {
      await root.run(['ip', '-n', attacker.ns, 'address', 'add', `${f.address}/32`, 'dev', 'eth0']);
      await sendUdp(attacker.ns, remote.address, 9997, f.marker, f.address);
      await root.run(['ip', '-n', attacker.ns, 'address', 'del', `${f.address}/32`, 'dev', 'eth0']);
    }
    await sendUdp(attacker.ns, remote.address, 9997, 'legit-after');
    await l.until('the legit datagram after', () => l.received('legit-after'));
    await sleep(500);
    for (const f of forged) assert.equal(l.received(f.marker), false, `${f.marker} delivered: ${l.lines.join(' | ')}`);
    assert.ok((await dropped(h1, 'bridge fan-bind', /./)) >= before + forged.length, 'the drops are counted');
    // The neighbour whose address was borrowed still works.
    await sendUdp(target.ns, remote.address, 9997, 'target-still-works');
    await l.until('the target container', () => l.received('target-still-works'));
  });
});

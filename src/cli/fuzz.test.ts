/**
 * A corpus of bad fanctl command lines and bad /etc/network/fan files, run through the real command table with
 * fake host dependencies. Every one must fail with a clear error: exit code != 0, a line that names the problem, a
 * `fix:` line, no stack trace, no "unexpected error"; and leave nothing behind: the fake command runner records no
 * command (so no kernel change), the state directory is byte for byte as before, nothing new in the temp dir.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { HostDeps } from '../app/host.js';
import { typicalHost } from '../testing/builders.js';
import { Dataplane } from '../kernel/dataplane.js';
import { MAX_CONFIG_BYTES, nodeTextFiles } from '../kernel/files.js';
import type { TextFiles } from '../ports/host.js';
import type { RunOptions, RunResult } from '../ports/runner.js';
import { buildProgram } from './program.js';
import { reportError } from './report-error.js';

let temp = '';
let stateDir = '';
let notADir = '';
let bigFile = '';

/** Config files the corpus refers to by path; `/real/…` paths are read from disk (see `files`). */
const CONFIGS: Record<string, string> = {
  '/cfg/bad': '250.0.0.0/8 eth0/16 bogus\n',
  '/cfg/overlap': '250.0.0.0/8 eth0/16\n250.1.0.0/16 eth0/24\n',
  '/cfg/empty-fan': '# only a comment\n\n-o 250.0.0.0/8\n',
};

const files: TextFiles = {
  read: (path) => (path.startsWith('/cfg/') ? Promise.resolve(CONFIGS[path]) : nodeTextFiles.read(path)),
};

async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of (await readdir(dir, { recursive: true })).sort()) {
    const path = join(dir, entry);
    const s = await stat(path);
    out.push(`${entry} ${(s.mode & 0o7777).toString(8)} ${s.isFile() ? await readFile(path, 'utf8') : '<dir>'}`);
  }
  return out;
}

interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly commands: readonly (readonly string[])[];
}

async function fanctl(argv: readonly string[], env: Record<string, string> = {}): Promise<Outcome> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const output = { out: (s: string) => void stdout.push(s), err: (s: string) => void stderr.push(s) };
  const commands: string[][] = [];
  const runner = {
    run: (cmd: readonly string[], _options?: RunOptions): Promise<RunResult> => {
      commands.push([...cmd]);
      return Promise.reject(new Error(`the fuzz corpus must not reach the kernel: ${cmd.join(' ')}`));
    },
  };
  const fullEnv = { FAN_STATE_DIR: stateDir, ...env };
  const paths = { stateDir: fullEnv.FAN_STATE_DIR, bpfObject: join(temp, 'no.bpf.o'), packageRoot: `${temp}/` };
  const host = { readFacts: () => Promise.resolve(typicalHost()) };
  const program = buildProgram({
    output,
    host,
    files,
    env: fullEnv,
    hostDeps: (): HostDeps => ({
      runner,
      host,
      files,
      paths,
      dataplane: new Dataplane(runner, { bpfObject: paths.bpfObject, stateDir: paths.stateDir }),
      log: () => {},
    }),
    hostVeths: () => ({
      hostLink: () => Promise.reject(new Error('no kernel in the fuzz corpus')),
      deleteHostLink: () => Promise.reject(new Error('no kernel in the fuzz corpus')),
      createVethPair: () => Promise.reject(new Error('no kernel in the fuzz corpus')),
      forgetPeerMapAddress: () => Promise.reject(new Error('no kernel in the fuzz corpus')),
    }),
    untilStopped: () => Promise.resolve('SIGTERM'),
  });
  let code = 0;
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    code = reportError(error, output);
  }
  return { code, stdout: stdout.join(''), stderr: stderr.join(''), commands };
}

/** [argv, what the error must say (the problem), extra environment]. */
type Case = readonly [argv: readonly string[], problem: RegExp, env?: Record<string, string>];

const S = ['-o', '250.0.0.0/8', '-u', '172.16.3.4/16'];
const UP = ['up', '-o', '250.0.0.0/8', '-u', 'eth0/16'];

const CLI: readonly Case[] = [
  // slice
  [['slice'], /required option '-o, --overlay/],
  [['slice', '-o', '250.0.0.0/8'], /required option '-u, --underlay/],
  [
    ['slice', ...S, '-u', '172.16.3.5/16'],
    /-u, --underlay is given twice \("172\.16\.3\.4\/16" and "172\.16\.3\.5\/16"\)/,
  ],
  [['slice', ...S, '-u', '172.16.3.4/16'], /-u, --underlay is given twice/],
  [['slice', '-o', '250.0.0.0/8', '-o', '251.0.0.0/8', '-u', '172.16.3.4/16'], /-o, --overlay is given twice/],
  [['slice', '-o', '255.255.255.255/8', '-u', '172.16.3.4/16'], /overlay "255\.255\.255\.255\/8" is not a network/],
  [['slice', '-o', '250.1.2.3/8', '-u', '172.16.3.4/16'], /has host bits set/],
  [['slice', '-o', '300.0.0.0/8', '-u', '172.16.3.4/16'], /"300\.0\.0\.0" is not an IPv4 address/],
  [['slice', '-o', '250.0.0.0', '-u', '172.16.3.4/16'], /has no prefix length/],
  [['slice', '-o', '250.0.0.0/33', '-u', '172.16.3.4/16'], /prefix length "33" is out of range/],
  [['slice', '-o', '250.0.0.0/x', '-u', '172.16.3.4/16'], /prefix length "x" is not a number/],
  [['slice', '-o', '127.0.0.0/8', '-u', '172.16.3.4/16'], /overlaps loopback/],
  [['slice', '-o', '224.0.0.0/8', '-u', '172.16.3.4/16'], /overlaps multicast/],
  [['slice', '-o', '0', '-u', '172.16.3.4/16'], /overlaps "this network"/],
  [['slice', '-o', '256', '-u', '172.16.3.4/16'], /overlay shorthand "256" is not an octet/],
  [['slice', '-o', '250.0.0.0/16', '-u', '172.16.0.0/8'], /must be wider than underlay/],
  [['slice', '-o', '172.0.0.0/8', '-u', '172.16.0.0/16'], /overlaps underlay/],
  [['slice', '-o', '250.0.0.0/8', '-u', '172.16.3.4'], /underlay "172\.16\.3\.4" has no prefix length/],
  [['slice', '-o', '250.0.0.0/8', '-u', '172.16.3/16'], /"172\.16\.3" is not an IPv4 address/],
  [['slice', '-o', '250.0.0.0/8', '-u', 'eth$0/16'], /neither an address nor an interface name/],
  [['slice', '-o', '250.0.0.0/8', '-u', 'eth0/16/2'], /underlay "eth0\/16\/2" is malformed/],
  [['slice', '-o', '250.0.0.0/8', '-u', '/16'], /underlay "\/16" is malformed/],
  [['slice', '-o', '250.0.0.0/8', '-u', 'eth9/16'], /eth9/],
  [['slice', '-o', '250.0.0.0/8', '-u', 'default/40'], /prefix length "40" is out of range/],
  [['slice', ...S, '--bridge', 'help'], /bridge name "help" is not a valid interface name: ip reads "help"/],
  [['slice', ...S, '--bridge', 'fan-vxlan'], /"fan-vxlan" is the name of fan's tunnel device/],
  [['slice', ...S, '--bridge', 'a/b'], /bridge name "a\/b" .*contains "\/"/],
  [['slice', ...S, '--bridge', 'averyverylongbridge'], /19 bytes long/],
  [['slice', ...S, '--bridge', 'fan"250'], /contains """/],
  [['slice', ...S, '--bridge', 'fan 250'], /white space/],
  [['slice', ...S, '--bridge', 'fän'], /other than ASCII/],
  [['slice', ...S, '--bridge', '-x'], /starts with "-"/],
  [['slice', ...S, '--bridge', 'x', '--bridge', 'y'], /--bridge is given twice/],
  [['slice', ...S, 'extra'], /too many arguments for 'slice'/],
  [['slice', ...S, '--json', 'extra', 'words'], /too many arguments for 'slice'/],
  [['slice', ...S, '--bogus'], /unknown option '--bogus'/],
  [['slice', '-o'], /option '-o, --overlay <cidr>' argument missing/],
  // map
  [['map', '250.3.4.7', 'extra', '-o', '250.0.0.0/8', '-u', '172.16.0.0/16'], /too many arguments for 'map'/],
  [['map', '250.3.4.7', '-o', '250.0.0.0/8', '-u', '172.16.0.0/16', 'a', 'b', 'c'], /too many arguments for 'map'/],
  [['map', '-o', '250.0.0.0/8', '-u', '172.16.0.0/16'], /missing required argument 'address'/],
  [['map', '250.3.4', '-o', '250.0.0.0/8', '-u', '172.16.0.0/16'], /"250\.3\.4" is not an IPv4 address/],
  [['map', '999.1.1.1', '-o', '250.0.0.0/8', '-u', '172.16.0.0/16'], /"999\.1\.1\.1" is not an IPv4 address/],
  [
    ['map', '10.0.0.1', '-o', '250.0.0.0/8', '-u', '172.16.0.0/16'],
    /10\.0\.0\.1 is not inside overlay 250\.0\.0\.0\/8/,
  ],
  [['map', '250.3.4.7', '-o', '250.0.0.0/8', '-u', 'eth0/16'], /map needs the underlay as a network/],
  [
    ['map', '250.3.4.7', '-o', '250.0.0.0/8', '-u', '172.16.0.0/16', '-u', '172.16.0.0/16'],
    /-u, --underlay is given twice/,
  ],
  [['map', '250.3.4.7', '-o', '250.255.255.255/8', '-u', '172.16.0.0/16'], /is not a network/],
  // up: grammar errors, found before anything is read or changed
  [['up'], /no overlay given/],
  [['up', '-o', '250.0.0.0/8'], /no underlay given/],
  [[...UP, '-u', 'eth1/16'], /-u, --underlay is given twice \("eth0\/16" and "eth1\/16"\)/],
  [[...UP, '-u', 'eth0/16'], /-u, --underlay is given twice/],
  [['up', '250.0.0.0/8', 'eth0/16', 'bogus'], /unexpected word "bogus"/],
  [['up', '250.0.0.0/8', 'eth0/16', 'eth1/16'], /unexpected word "eth1\/16"/],
  [['up', '250.0.0.0/8', 'eth0/16', 'host-reserve'], /host-reserve needs a value/],
  [['up', '250.0.0.0/8', 'eth0/16', 'host-reserve', '0'], /host-reserve "0" is not a positive whole number/],
  [['up', '250.0.0.0/8', 'eth0/16', 'host-reserve', 'x'], /host-reserve "x" is not a positive whole number/],
  [['up', '250.0.0.0/8', 'eth0/16', 'host-reserve', '2', 'host-reserve', '3'], /host-reserve is given twice/],
  [['up', '250.0.0.0/8', 'eth0/16', 'type', 'ipip'], /unknown fan type "ipip"/],
  [['up', '250.0.0.0/8', 'eth0/16', 'bridge', 'help'], /bridge name "help"/],
  [['up', '250.0.0.0/8', 'eth0/16', 'bridge'], /bridge needs a value/],
  [[...UP, '--type', 'ipip'], /argument 'ipip' is invalid/],
  [[...UP, '--type', 'vxlan', '--type', 'host-gw'], /--type is given twice/],
  [[...UP, '--bridge', 'help'], /bridge name "help"/],
  [[...UP, '--bridge', 'fan-vxlan'], /fan's tunnel device/],
  [[...UP, '--bridge', 'h'], /its keyword "help"/],
  [[...UP, '--bridge', 'mtu'], /its keyword "mtu"/],
  [[...UP, '--bridge', 'fan#1'], /contains "#"/],
  [[...UP, '--host-reserve', '1', '--host-reserve', '2'], /--host-reserve is given twice/],
  [[...UP, '--host-reserve', '-1'], /host-reserve "-1" is not a positive whole number/],
  [['up', '-o', '255.255.255.255/8', '-u', 'eth0/16'], /is not a network: it has host bits set/],
  [['up', '-o', '0.0.0.0/8', '-u', 'eth0/16'], /overlaps "this network"/],
  [['up', '-o', '250', '-u', 'default/40'], /prefix length "40" is out of range/],
  [['up', '250', '/16'], /underlay "\/16" is malformed/],
  [['up', '-a', '250.0.0.0/8'], /up -a takes no fan arguments/],
  [['up', '-a', '-c', '/cfg/missing'], /config file \/cfg\/missing does not exist/],
  [['up', '-a', '-c', '/cfg/bad'], /\/cfg\/bad:1: unexpected word "bogus"/],
  [
    ['up', '-a', '-c', '/cfg/overlap'],
    /\/cfg\/overlap:2: overlay 250\.0\.0\.0\/8 overlaps overlay 250\.1\.0\.0\/16 \(lines 1 and 2\)/,
  ],
  [['up', '-a', '-c', '/cfg/empty-fan'], /\/cfg\/empty-fan:3: no underlay given/],
  [['up', '--frobnicate'], /unknown option '--frobnicate'/],
  // down (the grammar part: selection errors before anything is read)
  [['down'], /down needs a fan/],
  [['down', '-o', 'bogus'], /overlay "bogus" has no prefix length/],
  [['down', '-o', '300.0.0.0/8'], /"300\.0\.0\.0" is not an IPv4 address/],
  [['down', '-o', '250.0.0.0/8', '-o', '251.0.0.0/8'], /-o, --overlay is given twice/],
  // config check
  [['config', 'check', '-c', '/cfg/missing'], /config file \/cfg\/missing does not exist/],
  [['config', 'check', '-c', '/cfg/bad'], /1 problem\(s\) in \/cfg\/bad/],
  [
    ['config', 'check', '-c', '/cfg/overlap'],
    /overlay 250\.0\.0\.0\/8 overlaps overlay 250\.1\.0\.0\/16 \(lines 1 and 2\)/,
  ],
  [['config', 'check', '-c', '/'], /\/ is a directory, not a config file/],
  [['config', 'check', '-c', '/dev/zero'], /\/dev\/zero is a character device, not a config file/],
  [['config', 'check', '-c', '/dev/null'], /\/dev\/null is a character device, not a config file/],
  [['config', 'check', '-c', '<big>'], /bytes: too large for a fan config/],
  [['config', 'check', '-c', '<not-a-dir>/fan'], /a part of the path is a file, not a directory/],
  [['config', 'check', 'extra'], /too many arguments for 'check'/],
  [['config', 'bogus'], /unknown command 'bogus'/],
  // other commands
  [['cni', 'install', 'extra'], /too many arguments for 'install'/],
  [['cni', 'install', '--bogus'], /unknown option '--bogus'/],
  [
    ['cni', 'install', '--dir', '<temp>/cni-bin', '--conf-dir', '<temp>/cni-conf'],
    /<not-a-dir> is a file, not a directory/,
    { FAN_STATE_DIR: '<not-a-dir>' },
  ],
  [['lxd-profile'], /<not-a-dir> is a file, not a directory/, { FAN_STATE_DIR: '<not-a-dir>' }],
  [['lxd-profile', 'extra'], /too many arguments for 'lxd-profile'/],
  [['docker-config'], /<not-a-dir> is a file, not a directory/, { FAN_STATE_DIR: '<not-a-dir>' }],
  [['docker-config', '--name'], /option '--name <name>' argument missing/],
  [['docker-plugin', 'extra'], /too many arguments for 'docker-plugin'/],
  [['lab', 'down', 'extra'], /too many arguments for 'down'/],
  [['lab', 'bogus'], /unknown command 'bogus'/],
  [['show', 'extra'], /too many arguments for 'show'/],
  [['status', '--bogus'], /unknown option '--bogus'/],
  [['bogus'], /unknown command 'bogus'/],
  [['--bogus'], /unknown option '--bogus'/],
];

/** Bad /etc/network/fan texts: `config check` and `up -a` must both refuse them, naming the line. */
const CONFIG_FILES: readonly [text: string, problem: RegExp][] = [
  ['bogus\n', /:1: no underlay given/],
  ['bogus eth0/16\n', /:1: overlay "bogus" has no prefix length/],
  ['-o 250.0.0.0/8\n', /:1: no underlay given/],
  ['250.0.0.0/8 eth0/16 bogus\n', /:1: unexpected word "bogus"/],
  ['250.0.0.0/8 eth0/16 host-reserve\n', /:1: host-reserve needs a value/],
  ['250.0.0.0/8 eth0/16 host-reserve 0\n', /:1: host-reserve "0" is not a positive whole number/],
  ['250.0.0.0/8 eth0/16 type gre\n', /:1: unknown fan type "gre"/],
  ['250.0.0.0/8 eth0/16 type\n', /:1: type needs a value/],
  ['250.0.0.0/8 eth0/16 bridge help\n', /:1: bridge name "help"/],
  ['250.0.0.0/8 eth0/16 bridge fan-vxlan\n', /:1: .*fan's tunnel device/],
  ['250.0.0.0/8 eth0/16 bridge fan/250\n', /:1: .*contains "\/"/],
  ['250.0.0.0/8 eth0/16 bridge mtu\n', /:1: .*keyword "mtu"/],
  ['250.0.0.0/8 eth0/16 bridge ""\n', /:1: .*contains """/],
  ['250.0.0.0/8 eth0/16 bridge\n', /:1: bridge needs a value/],
  ['255.255.255.255/8 eth0/16\n', /:1: overlay "255\.255\.255\.255\/8" is not a network/],
  ['250.0.0.0/8 eth0/16 -u eth1/16\n', /:1: unexpected word "eth0\/16"/],
  ['-u eth0/16 250.0.0.0/8 -u eth1/16\n', /:1: underlay is given twice/],
  ['-o 250.0.0.0/8 -o 250.0.0.0/8 -u eth0/16\n', /:1: overlay is given twice/],
  ['250.0.0.0/8 eth0/16 dhcp host-reserve 2 host-reserve 3\n', /:1: host-reserve is given twice/],
  ['250.0.0.0/8 eth0/16 type host-gw type vxlan\n', /:1: type is given twice/],
  [
    '250.0.0.0/8 eth0/16\n250.1.0.0/16 eth0/24\n',
    /:2: overlay 250\.0\.0\.0\/8 overlaps overlay 250\.1\.0\.0\/16 \(lines 1 and 2\)/,
  ],
  ['250.0.0.0/8 eth0/16\n250.0.0.0/8 eth1/16\n', /:2: overlay 250\.0\.0\.0\/8 overlaps overlay 250\.0\.0\.0\/8/],
  [
    '15 eth0/16\n# same fan, other spelling\n15.0.0.0/8 eth1/16\n',
    /:3: overlay 15\.0\.0\.0\/8 overlaps overlay 15\.0\.0\.0\/8 \(lines 1 and 3\)/,
  ],
  [
    '250.0.0.0/8 eth0/16 bridge fanx\n251.0.0.0/8 eth0/16 bridge fanx\n',
    /:2: two fans use bridge fanx \(lines 1 and 2\)/,
  ],
  ['240.0.0.0/4 eth0/8\n250.0.0.0/8 eth0/16\n', /:2: overlay 240\.0\.0\.0\/4 overlaps overlay 250\.0\.0\.0\/8/],
  ['up\n', /:1: no overlay given/],
  ['250.0.0.0/8 eth0/16 --dhcp=yes\n', /:1: unknown option "--dhcp=yes"/],
  ['250.0.0.0/8 eth0/16 --frob\n', /:1: unknown option "--frob"/],
  ['-o= -u eth0/16\n', /:1: unknown option "-o="/],
  ['--overlay= --underlay=eth0/16\n', /:1: --overlay needs a value/],
  ['-o 250.0.0.0/8 -u eth0/16 -b\n', /:1: -b needs a value/],
  ['250 eth0/99\n', /:1: prefix length "99" is out of range/],
  ['250 172.16.3.4\n', /:1: underlay "172\.16\.3\.4" has no prefix length/],
  ['250.0.0/8 eth0/16\n', /:1: "250\.0\.0" is not an IPv4 address/],
  ['127.0.0.0/8 eth0/16\n', /:1: overlay 127\.0\.0\.0\/8 overlaps loopback/],
  ['224.0.0.0/4 eth0/16\n', /:1: overlay 224\.0\.0\.0\/4 overlaps multicast/],
  ['0 eth0/16\n', /:1: overlay 0\.0\.0\.0\/8 overlaps "this network"/],
  ['256 eth0/16\n', /:1: overlay shorthand "256" is not an octet/],
  ['250.0.0.0/16 172.16.0.0/8\n', /:1: overlay 250\.0\.0\.0\/16 must be wider than underlay/],
  ['250.0.0.0/8 250.1.0.0/16\n', /:1: overlay 250\.0\.0\.0\/8 overlaps underlay 250\.1\.0\.0\/16/],
  ['250.0.0.0/8 eth0/16\0\n', /:1: prefix length "16\0" is not a number/],
  ['250.0.0.0/8 éth0/16\n', /:1: underlay "éth0\/16" is neither an address nor an interface name/],
  ['250.0.0.0/8 eth0/16 dhcp\r\n250.0.0.0/8 eth0/16 bogus\r\n', /:2: unexpected word "bogus"/],
  ['# comment\n   \n\t250.0.0.0/8\n', /:3: no underlay given/],
  ['250.0.0.0/8 default/33\n', /:1: prefix length "33" is out of range/],
  ['250.0.0.0/8 eth0/16\n251.0.0.0/8 eth0/16 bogus\n251.0.0.0/16 eth0/24\n', /:2: unexpected word "bogus"/],
  ['250.0.0.0/8 eth0/16 bridge fan-250\n251.0.0.0/8 eth0/16 bridge fan-250\n', /:2: two fans use bridge fan-250/],
  ['250.0.0.0/8 eth0/16\n251.0.0.0/8 eth0/16 bridge fan-250\n', /:2: two fans use bridge fan-250/],
];

const substitute = (text: string): string =>
  text.replaceAll('<temp>', temp).replaceAll('<not-a-dir>', notADir).replaceAll('<big>', bigFile);

function assertClearFailure(out: Outcome, problem: RegExp, label: string): void {
  assert.notEqual(out.code, 0, `${label}: exit code 0\n${out.stdout}${out.stderr}`);
  assert.match(out.stderr, problem, `${label}: the error names the problem`);
  assert.match(out.stderr, /^\s*fix: \S/m, `${label}: a fix line\n${out.stderr}`);
  assert.doesNotMatch(out.stderr + out.stdout, /\n\s+at .*[(:]\d+/, `${label}: no stack trace`);
  assert.doesNotMatch(out.stderr, /unexpected error|internal error/, `${label}: not an unexpected error`);
  assert.deepEqual(out.commands, [], `${label}: no command reached the host`);
}

describe('fanctl fuzz corpus: bad command lines and config files', () => {
  let before_: string[] = [];
  let tempBefore: string[] = [];

  before(async () => {
    temp = await mkdtemp(join(tmpdir(), 'fanhd-fuzz-'));
    stateDir = join(temp, 'state');
    // A state dir with a fan up and a lease: the corpus must leave both exactly as they are.
    await mkdir(join(stateDir, 'ipam'), { recursive: true, mode: 0o700 });
    await writeFile(
      join(stateDir, 'fans.json'),
      `${JSON.stringify({ version: 1, fans: [{ words: ['-o', '250.0.0.0/8', '-u', 'eth0/16'], source: 'cli' }] })}\n`,
      { mode: 0o600 },
    );
    await writeFile(
      join(stateDir, 'ipam', 'fan-250.json'),
      `${JSON.stringify({
        version: 1,
        leases: [{ address: '250.3.4.2', owner: 'cni:n:a', ifname: 'eth0', since: 'x' }],
      })}\n`,
      { mode: 0o600 },
    );
    notADir = join(temp, 'not-a-dir');
    await writeFile(notADir, 'a file\n');
    bigFile = join(temp, 'big');
    await writeFile(bigFile, '# padding\n'.repeat(Math.ceil((MAX_CONFIG_BYTES + 10) / 10)));
    for (const [i, [text]] of CONFIG_FILES.entries()) CONFIGS[`/cfg/corpus${i}`] = text;
    before_ = await snapshot(stateDir);
    tempBefore = (await readdir(temp)).sort();
  });

  after(async () => {
    await rm(temp, { recursive: true, force: true });
  });

  it(`holds at least 150 bad inputs across the CLI and config files (${CLI.length} command lines, \
${CONFIG_FILES.length * 2} config runs)`, () => {
    assert.ok(CLI.length + CONFIG_FILES.length * 2 >= 150);
  });

  for (const [argv, problem, env] of CLI) {
    const label = `fanctl ${argv.join(' ')}${
      env
        ? ` (${Object.entries(env)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')})`
        : ''
    }`;
    it(label, async () => {
      const out = await fanctl(
        argv.map(substitute),
        env ? Object.fromEntries(Object.entries(env).map(([k, v]) => [k, substitute(v)])) : {},
      );
      assertClearFailure(out, new RegExp(substitute(problem.source)), label);
      assert.deepEqual(await snapshot(stateDir), before_, `${label}: the state dir is unchanged`);
      assert.deepEqual((await readdir(temp)).sort(), tempBefore, `${label}: nothing new in ${temp}`);
    });
  }

  for (const [i, [text, problem]] of CONFIG_FILES.entries()) {
    const path = `/cfg/corpus${i}`;
    for (const argv of [
      ['config', 'check', '-c', path],
      ['up', '-a', '-c', path],
    ]) {
      const label = `fanctl ${argv[0]} ${argv[1]} on ${JSON.stringify(text)}`;
      it(label, async () => {
        const out = await fanctl(argv);
        assertClearFailure(out, new RegExp(`${path}${problem.source}`), label);
        assert.deepEqual(await snapshot(stateDir), before_, `${label}: the state dir is unchanged`);
      });
    }
  }

  it(`config check passes the config the corpus is a variation of, so the failures above are the lines' \
fault`, async () => {
    CONFIGS['/cfg/good'] = '# fans\n250.0.0.0/8 eth0/16 dhcp\n251.0.0.0/8 eth0/16 bridge fan-251b host-reserve 2\n';
    const out = await fanctl(['config', 'check', '-c', '/cfg/good']);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /\/cfg\/good:2: ok .*\n\/cfg\/good:3: ok /);
  });
});

/**
 * fanctl's command table: every command and option in one place. Handlers are plain functions that return data;
 * printing is separate, and every read command takes --json. Commands throw; src/bin decides the exit code.
 */
import { Command, Option } from 'commander';
import { DEFAULT_FAN_CONFIG } from '../core/config/fan-file.js';
import { DATAPLANE_TYPES, type DataplaneType } from '../core/config/fan-spec.js';
import { ConfigError, FanError, InternalError } from '../core/errors.js';
import { DEFAULT_LAB } from '../lab/topology.js';
import type { BenchCliOptions } from '../lab/bench/presets.js';
import type { HostReader, TextFiles } from '../ports/host.js';
import type { CalcOptions } from './commands/calc.js';
import { type Output, printJson } from './output.js';
import type { LxcConfigOptions, LxdCommandOptions } from './commands/lxd.js';
import { fanPaths } from '../app/paths.js';
import type { HostDeps } from '../app/host.js';
import type * as PolicyApp from '../app/policy.js';
import type * as PortBindings from '../app/port-bindings.js';
import type { FanWordOptions } from './commands/host.js';
import {
  DEFAULT_DOCKERD_SOCKET,
  DEFAULT_DOCKER_SOCKET,
  DEFAULT_METRICS_LISTEN,
  DEFAULT_RECLAIM_GRACE_S,
  DEFAULT_RECLAIM_INTERVAL_S,
  DEFAULT_DOCTOR_INTERVAL_SECONDS,
  DEFAULT_SOCKET_MODE,
  parseDoctorInterval,
} from '../core/defaults.js';
import type { PortTable } from '../ports/published-ports.js';
import type { HostVeths, SandboxLinks } from '../ports/sandbox.js';
import { registerPolicyCommands } from './commands/policy.js';
import type { CniDeps } from '../cni/plugin.js';
import type { AgentDeps, AgentOptions } from './commands/agent.js';

// Command modules are imported inside their actions: `fanctl --version` or `fanctl up` then loads only what it
// runs (loading every command's modules cost ~0.3 s of each call).

export interface CliDeps {
  readonly output: Output;
  readonly host: HostReader;
  readonly files: TextFiles;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Kernel-backed dependencies, built only by commands that need them. */
  readonly hostDeps: () => HostDeps;
  /** For long-running commands (docker-plugin): resolves with the signal's name on SIGTERM/SIGINT. */
  readonly untilStopped?: () => Promise<string>;
  /** The veth operations of the Docker driver, built on demand. */
  readonly hostVeths?: () => HostVeths;
  /** Every container link operation (fanctl agent: CNI and Docker), built on demand. */
  readonly sandboxLinks?: () => SandboxLinks & HostVeths;
  /** The nftables table of published Docker ports, built on demand. */
  readonly portTable?: () => PortTable;
}

interface JsonOption {
  json?: boolean;
}

/**
 * An option that may be given once: commander keeps the last of repeated values, so `-u A -u B` would silently
 * mean `-u B`. Wraps the option's own parser (e.g. its choices).
 */
function once(option: Option): Option {
  const inner = option.parseArg;
  return option.argParser((value: string, previous: unknown) => {
    if (previous !== undefined) {
      throw new ConfigError(
        `${option.flags.replace(/ <.*>$/, '')} is given twice ("${String(previous)}" and "${value}")`,
        `give ${option.long ?? option.flags} once`,
      );
    }
    return inner ? inner(value, undefined) : value;
  });
}

const overlayOption = (): Option =>
  once(new Option('-o, --overlay <cidr>', 'overlay network, e.g. 250.0.0.0/8 (or 250)'));
const underlayOption = (): Option =>
  once(new Option('-u, --underlay <spec>', 'underlay: NETWORK/LEN, ADDRESS/LEN, IFACE/LEN or default/LEN'));
const bridgeOption = (description: string): Option => once(new Option('--bridge <name>', description));

/**
 * Every command refuses words it does not take (commander 12 ignores them by default: `map ADDR extra` ran), and
 * its usage errors end with where to read its usage.
 */
function refuseStrayWords(command: Command, path: readonly string[] = []): void {
  for (const sub of command.commands) {
    const name = [...path, sub.name()];
    sub.showHelpAfterError(`  fix: see fanctl ${name.join(' ')} --help`);
    if (!sub.registeredArguments.some((a) => a.variadic)) sub.allowExcessArguments(false);
    refuseStrayWords(sub, name);
  }
}

const collectValues = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** The policy's hook into the CNI plugin (address groups), for the agent as for fan-cni. */
function policyCniDeps(h: HostDeps, { groupLeaseStore }: typeof PolicyApp): Pick<CniDeps, 'groupLeases'> {
  return { groupLeases: (fan, request) => groupLeaseStore({ paths: h.paths }, fan, request) };
}

export function buildProgram(deps: CliDeps): Command {
  const { output } = deps;
  const program = new Command('fanctl')
    .description(
      'Fan networking on stock Linux kernels: compute, build and explain overlay networks mapped onto an underlay.',
    )
    .version('0.1.0')
    .showHelpAfterError('  fix: see fanctl --help')
    .exitOverride()
    .configureOutput({ writeOut: (s) => output.out(s), writeErr: (s) => output.err(s) });

  program
    .command('slice')
    .description("print the overlay slice owned by a host (this host's address on the underlay, or -u ADDRESS/LEN)")
    .addOption(overlayOption().makeOptionMandatory())
    .addOption(underlayOption().makeOptionMandatory())
    .addOption(bridgeOption('bridge name to report instead of the derived one'))
    .option('--json', 'print every derived field as JSON')
    .action(async (opts: CalcOptions & JsonOption) => {
      const { sliceCommand } = await import('./commands/calc.js');
      const report = await sliceCommand(opts, deps.host);
      if (opts.json) printJson(output, report);
      else output.out(`${report.slice}\n`);
    });

  program
    .command('map')
    .description('print the underlay host that owns an overlay address')
    .argument('<address>', 'an overlay address, e.g. 250.3.4.7')
    .addOption(overlayOption().makeOptionMandatory())
    .addOption(underlayOption().makeOptionMandatory())
    .addOption(bridgeOption('bridge name to report instead of the derived one'))
    .option('--json', 'print every derived field as JSON')
    .action(async (address: string, opts: CalcOptions & JsonOption) => {
      const { mapCommand } = await import('./commands/calc.js');
      const report = mapCommand(address, opts);
      if (opts.json) printJson(output, report);
      else output.out(`${report.underlayHost}\n`);
    });

  const fanOptions = (command: Command): Command =>
    command
      .argument(
        '[words...]',
        'old syntax: OVERLAY UNDERLAY [dhcp] [dhcp-range R] [host-reserve N] [bridge NAME] [type T]',
      )
      .addOption(overlayOption())
      .addOption(underlayOption())
      .option('--dhcp', 'serve DHCP on the fan bridge (dnsmasq): the upper half of the slice, the rest to the IPAM')
      .addOption(
        once(
          new Option(
            '--dhcp-range <range>',
            "the DHCP share: START-END (addresses of this host's slice) or N " +
              '(the last N container addresses); implies --dhcp',
          ),
        ),
      )
      .addOption(bridgeOption('bridge name (default fan-<overlay octets>)'))
      .addOption(
        once(new Option('--host-reserve <n>', 'addresses kept for the host at the start of the slice (default 1)')),
      )
      .addOption(once(new Option('--type <type>', 'data plane').choices([...DATAPLANE_TYPES])))
      .option('-c, --config <path>', 'config file for -a', deps.env.FAN_CONFIG ?? DEFAULT_FAN_CONFIG)
      .option('--json', 'print the result as JSON');

  fanOptions(program.command('up').description('bring a fan up on this host (or every fan of the config file with -a)'))
    .option('-a, --all', 'bring up every fan in the config file')
    .action(async (words: string[], opts: FanWordOptions & JsonOption & { all?: boolean; config: string }) => {
      const { renderChanges, upCommand } = await import('./commands/host.js');
      const report = await upCommand(words, opts, deps.hostDeps(), deps.files);
      if (opts.json) printJson(output, report);
      else output.out(renderChanges(report));
    });

  fanOptions(program.command('down').description('take a fan down (-a: those from the config file, -e: every fan)'))
    .option('-a, --all', 'take down the fans brought up from the config file')
    .option('-e, --every', 'take down every fan on this host')
    .option('--force', 'detach containers still on the bridge')
    .action(
      async (
        words: string[],
        opts: FanWordOptions & JsonOption & { all?: boolean; every?: boolean; force?: boolean; config: string },
      ) => {
        const { downCommand, renderChanges } = await import('./commands/host.js');
        const report = await downCommand(words, opts, deps.hostDeps());
        if (opts.json) printJson(output, report);
        else output.out(renderChanges(report));
      },
    );

  program
    .command('show')
    .description("list this host's fans (Ubuntu's table), or the full state with --json")
    .option('--json', 'devices, MTU, eBPF counters, dnsmasq, firewall state')
    .action(async (opts: JsonOption) => {
      const { renderShow, showCommand } = await import('./commands/host.js');
      const status = await showCommand(deps.hostDeps());
      if (opts.json) printJson(output, status);
      else output.out(renderShow(status));
    });

  program
    .command('status')
    .description(
      'a table per fan: slice, gateway, MTU, data plane, DHCP, ports, eBPF counters; then tunnel and firewall',
    )
    .option('--json', 'the same state as show --json')
    .action(async (opts: JsonOption) => {
      const { renderStatus, showCommand } = await import('./commands/host.js');
      const status = await showCommand(deps.hostDeps());
      if (opts.json) printJson(output, status);
      else output.out(renderStatus(status));
    });

  // fanctl doctor and fanctl trace: explain this host's fans and the path of one packet.
  program
    .command('doctor')
    .description(
      'check everything fan depends on (kernel, forwarding, firewall, ' +
        'MTU, offloads, peers, eBPF, nft, state); exit 1 when a check fails',
    )
    .option('--peer <address>', 'underlay address of a peer host to probe VXLAN with (repeatable)', collectValues)
    .option('--check <id>', 'run only this check (repeatable)', collectValues)
    .option('--json', "the report, with each check's observation, as JSON")
    .action(async (opts: { peer?: string[]; check?: string[] } & JsonOption) => {
      const [{ doctorCommand }, { renderDoctor }] = await Promise.all([
        import('./commands/doctor.js'),
        import('../doctor/render.js'),
      ]);
      const report = await doctorCommand(opts, deps.hostDeps());
      if (opts.json) printJson(output, report);
      else output.out(renderDoctor(report, deps.env.COLUMNS ? Number(deps.env.COLUMNS) : 120));
      if (report.failed.length > 0)
        throw new FanError(`${report.failed.length} doctor check(s) failed: ${report.failed.join(', ')}`);
    });

  program
    .command('trace')
    .description(
      'the path of a packet from SRC (on this host) to DST, hop by hop, with MTU and policy; --probe sends a real one',
    )
    .argument('<src>', 'source: a container or bridge address on this host')
    .argument('<dst>', 'destination: any address')
    .argument('[proto]', 'icmp (default), tcp/PORT or udp/PORT')
    .option('--probe', 'send a ping from SRC and show which counters moved and where it stopped')
    .option('--netns <name|path>', "SRC's network namespace for --probe (found through its veth when named)")
    .option('--json', 'the path (and the probe) as JSON')
    .action(
      async (
        src: string,
        dst: string,
        proto: string | undefined,
        opts: { probe?: boolean; netns?: string } & JsonOption,
      ) => {
        const [{ traceCommand }, { renderTrace }] = await Promise.all([
          import('../app/trace.js'),
          import('./commands/trace.js'),
        ]);
        const report = await traceCommand(
          {
            src,
            dst,
            ...(proto !== undefined ? { proto } : {}),
            probe: opts.probe ?? false,
            ...(opts.netns !== undefined ? { netns: opts.netns } : {}),
          },
          deps.hostDeps(),
        );
        if (opts.json) printJson(output, report);
        else output.out(renderTrace(report));
        if (report.probe && !report.probe.matches)
          throw new FanError('the probe disagrees with the computed path', 'run fanctl doctor to find what differs');
      },
    );

  program
    .command('attachments')
    .description(
      'what is attached to each fan bridge: address, runtime ' +
        '(cni/docker/dhcp), interfaces, container id, Kubernetes pod',
    )
    .option('--bridge <name>', 'only this fan bridge')
    .option('--json', 'the attachments as JSON, per bridge')
    .action(async (opts: { bridge?: string } & JsonOption) => {
      const { attachmentsCommand, renderAttachments } = await import('./commands/attachments.js');
      const list = await attachmentsCommand(opts, {
        host: deps.host,
        files: deps.files,
        stateDir: fanPaths(deps.env).stateDir,
      });
      if (opts.json) printJson(output, list);
      else output.out(renderAttachments(list));
    });

  const lab = program.command('lab').description('simulated Fan hosts and containers in network namespaces (root)');
  const labName = (): Option =>
    new Option('--name <name>', 'lab name (prefix of every namespace)').default(DEFAULT_LAB.name);
  const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];
  lab
    .command('up')
    .description('create N hosts on a simulated underlay, each running fanctl up, with M containers each')
    .addOption(labName())
    .option('--hosts <n>', 'hosts', String(DEFAULT_LAB.hosts))
    .option('--containers <m>', 'containers per host', String(DEFAULT_LAB.containers))
    .option('-o, --overlay <cidr>', 'overlay (repeat for several fans per host)', collect)
    .option('-u, --underlay <cidr>', 'underlay network', DEFAULT_LAB.underlay)
    .option('--dhcp', "containers get their address from the fan's dnsmasq")
    .option('--mtu <n>', 'underlay MTU', String(DEFAULT_LAB.underlayMtu))
    .addOption(
      new Option('--type <type>', "data plane of the lab's fans").choices([...DATAPLANE_TYPES]).default('vxlan'),
    )
    .option('--group <name=range>', 'policy group NAME=FIRST-LAST; containers take turns (repeat for several)', collect)
    .action(
      async (opts: {
        name: string;
        hosts: string;
        containers: string;
        overlay?: string[];
        underlay: string;
        dhcp?: boolean;
        mtu: string;
        type: DataplaneType;
        group?: string[];
      }) => {
        const { labUpCommand, renderTopology } = await import('./commands/lab.js');
        const topo = await labUpCommand({
          name: opts.name,
          hosts: Number(opts.hosts),
          containers: Number(opts.containers),
          overlays: opts.overlay ?? DEFAULT_LAB.overlays,
          underlay: opts.underlay,
          dhcp: opts.dhcp ?? false,
          underlayMtu: Number(opts.mtu),
          type: opts.type,
          ...(opts.group ? { groups: opts.group } : {}),
        });
        output.out(renderTopology(topo));
      },
    );
  lab
    .command('check')
    .description('every container pings every other container and the outside; exit 1 on any failure')
    .addOption(labName())
    .option('--json', 'results as JSON')
    .action(async (opts: { name: string } & JsonOption) => {
      const { labCheckCommand, renderCheck } = await import('./commands/lab.js');
      const report = await labCheckCommand(opts.name, opts.json);
      if (opts.json) printJson(output, report);
      else output.out(renderCheck(report));
      if (report.failed > 0) throw new FanError(`${report.failed} of ${report.results.length} pings failed`);
    });
  // fanctl lab bench: the benchmark suite (src/lab/bench.ts); presets in src/lab/bench/presets.ts.
  lab
    .command('bench')
    .description(
      'the benchmark suite: underlay vs every fan backend, the flannel-style reference, same host and fan with a ' +
        'policy (iperf3, 1 and 4 streams, RTT); fanctl up and kernel objects per underlay size; CNI ADD/DEL; targets',
    )
    .addOption(labName())
    .option('--create', 'run the whole suite in fresh labs (named after --name, default fanbench) and remove them')
    .option('--quick', 'short CI run: every row once for 1 s (implies --create)')
    .option('--full', 'everything: MTU 1500 and 9000, both CPU modes, 5 runs (implies --create)')
    .option('--runs <n>', 'runs per row (medians are reported)')
    .option('--seconds <s>', 'iperf3 duration per run')
    .option('--mtu <list>', 'underlay MTUs, comma-separated (a lab each), e.g. 1500,9000')
    .option('--streams <list>', 'iperf3 parallel streams per column, e.g. 1,4')
    .addOption(new Option('--cpu <modes>', 'iperf3 pinning: one (client and server on CPU 0), split, or one,split'))
    .option('--underlays <list>', 'underlay prefixes of the control-plane rows, e.g. 24,20,16 (none: skip)')
    .option('--no-policy', 'leave out the row with the isolation policy')
    .option('--cni', 'with a running lab: also measure CNI ADD/DEL against bridge + host-local')
    .option('--no-cni', 'with --create: leave out the CNI section')
    .option('--cni-only', 'measure container attach only')
    .option('--cni-runs <n>', 'CNI runs (medians are reported)')
    .option('--cni-calls <n>', 'sequential ADDs and DELs per plugin and run')
    .option('--cni-concurrent <n>', 'concurrent ADDs per plugin and run')
    .option('--cni-in-process <n>', 'sequential calls of the plugin without its agent per run (0: none)')
    .option('--json [file]', 'write the report as JSON to FILE (or print it instead of the tables)')
    .option('--svg <file>', 'write an SVG chart of the ratios to FILE')
    .action(async (opts: BenchCliOptions) => {
      const [{ labBenchCommand, renderBench }, { labCniBenchCommand, renderCniBench }, { suiteOptions }] =
        await Promise.all([
          import('./commands/lab.js'),
          import('./commands/cni-bench.js'),
          import('../lab/bench/presets.js'),
        ]);
      const { writeFile: writeTextFile } = await import('node:fs/promises');
      const create = opts.create === true || opts.quick === true || opts.full === true;
      const name = create && opts.name === DEFAULT_LAB.name ? 'fanbench' : opts.name;
      const options = suiteOptions(opts, create);
      if (opts.cniOnly) {
        if (!options.cni) throw new ConfigError('--cni-only with --no-cni measures nothing', 'drop --no-cni');
        const cni = await labCniBenchCommand(create ? `${name}c` : name, options.cni, output, create);
        if (opts.json === true) printJson(output, { cni });
        else output.out(renderCniBench(cni));
        if (typeof opts.json === 'string') await writeTextFile(opts.json, `${JSON.stringify({ cni }, null, 2)}\n`);
        return;
      }
      const report = await labBenchCommand(name, options, output, create);
      if (opts.json === true) printJson(output, report);
      else output.out(renderBench(report));
      if (typeof opts.json === 'string') await writeTextFile(opts.json, `${JSON.stringify(report, null, 2)}\n`);
      if (opts.svg !== undefined) {
        const { renderSvg } = await import('../lab/bench/svg.js');
        await writeTextFile(opts.svg, renderSvg(report));
      }
    });
  lab
    .command('down')
    .description('remove everything the lab created (found by name prefix, also after a crash)')
    .addOption(labName())
    .action(async (opts: { name: string }) => {
      const { labDownCommand } = await import('./commands/lab.js');
      const removed = await labDownCommand(opts.name);
      output.out(`removed ${removed.length} namespaces of lab ${opts.name}\n`);
    });
  lab
    .command('demo')
    .description('up (3 hosts × 2 containers), check, bench, down')
    .option('--seconds <s>', 'iperf3 duration per path', '3')
    .action(async (opts: { seconds: string }) => {
      const { labDemoCommand } = await import('./commands/lab.js');
      await labDemoCommand(output, Number(opts.seconds));
    });

  const cni = program.command('cni').description('the fan CNI plugin for Kubernetes, podman and containerd');
  cni
    .command('install')
    .description('install the fan CNI plugin and write a conflist (fan + portmap) for each fan that is up')
    .option('--dir <path>', 'CNI plugin directory', '/opt/cni/bin')
    .option('--conf-dir <path>', 'CNI network configuration directory', '/etc/cni/net.d')
    .option('--overlay <cidr>', 'only the fan with this overlay')
    .option('--cni-version <version>', "cniVersion of the conflists (Debian 12's plugins speak up to 1.0.0)", '1.0.0')
    .option('--json', 'print what was written as JSON')
    .action(async (opts: { dir: string; confDir: string; overlay?: string; cniVersion: string } & JsonOption) => {
      const { cniInstallCommand, renderCniInstall } = await import('./commands/cni.js');
      const paths = deps.hostDeps().paths;
      const report = await cniInstallCommand(opts, {
        host: deps.host,
        stateDir: paths.stateDir,
        stateDirFromEnv: deps.env.FAN_STATE_DIR !== undefined,
        packageRoot: paths.packageRoot,
      });
      if (opts.json) printJson(output, report);
      else output.out(renderCniInstall(report));
    });

  // ---- LXD and LXC (src/lxd, src/app/lxd.ts) ----
  program
    .command('lxd-profile')
    .description(
      'print an LXD profile (YAML) that puts instances on a fan bridge: ' +
        'lxc profile create fan-250 && fanctl lxd-profile | lxc profile edit fan-250 (or fanctl lxd enable)',
    )
    .option('-o, --overlay <cidr>', 'which fan (default: the first that is up)')
    .option('--name <name>', 'profile name (default: the bridge name)')
    .option('--json', 'the profile and its warnings as JSON')
    .action(async (opts: { overlay?: string; name?: string } & JsonOption) => {
      const { lxdProfileCommand } = await import('./commands/lxd.js');
      const profile = await lxdProfileCommand(opts, { host: deps.host, stateDir: fanPaths(deps.env).stateDir });
      if (opts.json) printJson(output, profile);
      else output.out(profile.yaml);
      for (const warning of profile.warnings) output.err(`fanctl: warning: ${warning}\n`);
    });
  const lxd = program
    .command('lxd')
    .description("LXD instances on a fan (Ubuntu's fanatic enable-lxd/disable-lxd), through the lxc client");
  const lxdOptions = (command: Command): Command =>
    command
      .option('-o, --overlay <cidr>', 'which fan (default: the first that is up)')
      .option('--profile <name>', 'profile name (default: the fan bridge name, e.g. fan-250)')
      .option('--project <name>', "LXD project (default: the client's current project)")
      .option('--json', 'the result as JSON');
  lxdOptions(
    lxd
      .command('enable')
      .description('create the LXD profile (or bring it up to date): lxc launch IMAGE NAME -p default -p fan-250'),
  ).action(async (opts: LxdCommandOptions & JsonOption) => {
    const { lxdEnableCommand, renderLxdEnable } = await import('./commands/lxd.js');
    const report = await lxdEnableCommand(opts, {
      host: deps.host,
      stateDir: fanPaths(deps.env).stateDir,
      runner: deps.hostDeps().runner,
    });
    if (opts.json) printJson(output, report);
    else output.out(renderLxdEnable(report));
    for (const warning of report.warnings) output.err(`fanctl: warning: ${warning}\n`);
  });
  lxdOptions(lxd.command('disable').description('remove the LXD profile; refuses while instances use it'))
    .option('--force', 'take the profile off the instances using it first (their fan NIC goes away)')
    .action(async (opts: LxdCommandOptions & JsonOption) => {
      const { lxdDisableCommand, renderLxdDisable } = await import('./commands/lxd.js');
      const report = await lxdDisableCommand(opts, {
        host: deps.host,
        stateDir: fanPaths(deps.env).stateDir,
        runner: deps.hostDeps().runner,
      });
      if (opts.json) printJson(output, report);
      else output.out(renderLxdDisable(report));
    });
  program
    .command('lxc-config')
    .description(
      'print the lxc.net.0.* lines that put a plain LXC container on a fan bridge (append them to its config)',
    )
    .option('-o, --overlay <cidr>', 'which fan (default: the first that is up)')
    .option(
      '--static <container>',
      "a static address for this container from fan's IPAM (the same one on every call) instead of DHCP",
    )
    .option('--release <container>', 'free the static address of this container (after lxc-destroy)')
    .option('--json', 'the lines and settings as JSON')
    .action(async (opts: LxcConfigOptions & JsonOption) => {
      const { lxcConfigCommand } = await import('./commands/lxd.js');
      const result = await lxcConfigCommand(opts, { host: deps.host, stateDir: fanPaths(deps.env).stateDir });
      if (opts.json) printJson(output, result.config ?? { released: result.released ?? null });
      else output.out(result.text);
      for (const warning of result.config?.warnings ?? []) output.err(`fanctl: warning: ${warning}\n`);
    });

  program
    .command('docker-plugin')
    .description(
      'serve the fan network and IPAM drivers for Docker (foreground; SIGTERM stops it and ' +
        'removes the socket): docker network create -d fan --ipam-driver fan --subnet <slice> fan',
    )
    .option('--socket <path>', 'unix socket Docker finds the plugin by', DEFAULT_DOCKER_SOCKET)
    .option('-v, --verbose', 'log every call with its request and answer')
    .option('--socket-mode <mode>', 'octal permissions of the socket, set whatever the umask', DEFAULT_SOCKET_MODE)
    .option(
      '--docker-socket <path>',
      "dockerd's API socket, asked which addresses its networks still hold",
      DEFAULT_DOCKERD_SOCKET,
    )
    .option('--no-reclaim', 'never free leases dockerd abandoned (no calls to dockerd)')
    .option('--reclaim-grace <seconds>', 'never free a lease younger than this', String(DEFAULT_RECLAIM_GRACE_S))
    .option(
      '--reclaim-interval <seconds>',
      'reclaim abandoned leases this often (0: only at start and when a pool is full)',
      String(DEFAULT_RECLAIM_INTERVAL_S),
    )
    .action(
      async (opts: {
        socket: string;
        verbose?: boolean;
        socketMode: string;
        dockerSocket: string;
        reclaim: boolean;
        reclaimGrace: string;
        reclaimInterval: string;
      }) => {
        if (!deps.untilStopped || !deps.hostVeths || !deps.portTable)
          throw new InternalError(
            'docker-plugin needs untilStopped, hostVeths and portTable from the composition root',
          );
        const { dockerPluginCommand } = await import('./commands/docker.js');
        await dockerPluginCommand(
          { ...opts, dockerSocket: opts.reclaim ? opts.dockerSocket : false },
          {
            host: deps.host,
            stateDir: fanPaths(deps.env).stateDir,
            veths: deps.hostVeths(),
            portTable: deps.portTable(),
            untilStopped: deps.untilStopped,
            log: (line) => output.err(`fanctl docker-plugin: ${line}\n`),
          },
        );
      },
    );

  program
    .command('docker-config')
    .description(
      "print the no-plugin alternative: a docker network create command for Docker's bridge driver on the fan bridge",
    )
    .option('-o, --overlay <cidr>', 'which fan (default: the first that is up)')
    .option('--name <name>', 'Docker network name', 'fan')
    .option('--json', 'the command (argv and text), its settings and notes as JSON')
    .action(async (opts: { overlay?: string; name: string } & JsonOption) => {
      const [{ dockerConfigCommand }, { renderDockerConfig }] = await Promise.all([
        import('./commands/docker.js'),
        import('../docker/config.js'),
      ]);
      const config = await dockerConfigCommand(opts, { host: deps.host, stateDir: fanPaths(deps.env).stateDir });
      if (opts.json) printJson(output, config);
      else output.out(renderDockerConfig(config));
    });

  const config = program.command('config').description('work with the fan config file');
  config
    .command('check')
    .description('validate the config file and list every problem')
    .option('-c, --config <path>', 'config file', deps.env.FAN_CONFIG ?? DEFAULT_FAN_CONFIG)
    .option('--json', 'print the parsed fans and problems as JSON')
    .action(async (opts: { config: string } & JsonOption) => {
      const [{ readFanConfig }, { formatCidr }, { toFanWords }] = await Promise.all([
        import('./commands/config-check.js'),
        import('../core/address/ipv4.js'),
        import('../core/config/fan-spec.js'),
      ]);
      const parsed = await readFanConfig(deps.files, opts.config);
      if (opts.json) {
        printJson(output, {
          path: parsed.path,
          fans: parsed.fans.map((f) => ({
            line: f.line,
            overlay: formatCidr(f.spec.overlay),
            underlay: f.spec.underlay.text,
            enabled: f.spec.enabled,
            words: toFanWords(f.spec),
          })),
          problems: parsed.problems,
        });
      } else {
        const bad = new Set(parsed.problems.map((p) => p.line));
        for (const f of parsed.fans)
          if (!bad.has(f.line)) output.out(`${parsed.path}:${f.line}: ok ${toFanWords(f.spec).join(' ')}\n`);
        for (const p of parsed.problems)
          output.err(`${parsed.path}:${p.line}: ${p.message}${p.hint ? ` (${p.hint})` : ''}\n`);
      }
      if (parsed.problems.length > 0) {
        throw new ConfigError(`${parsed.problems.length} problem(s) in ${parsed.path}`, 'fix the lines listed above');
      }
    });

  // fanctl policy … (isolation by groups carried in the address)
  registerPolicyCommands(
    program,
    output,
    () => {
      const h = deps.hostDeps();
      return { runner: h.runner, host: h.host, paths: h.paths, log: h.log };
    },
    () => {
      if (!deps.untilStopped) throw new InternalError('policy watch needs untilStopped from the composition root');
      return deps.untilStopped();
    },
  );

  // Boot integration and the long-running agent: fanctl metrics, fanctl agent, fanctl install-service.
  const agentDeps = (name: string, policy: typeof PolicyApp, bindings: typeof PortBindings): AgentDeps => {
    const { hostVeths, portTable } = deps;
    if (!deps.untilStopped || !hostVeths || !portTable) {
      throw new InternalError(`${name} needs untilStopped, hostVeths and portTable from the composition root`);
    }
    const { sandboxLinks } = deps;
    return {
      hostDeps: deps.hostDeps,
      host: deps.host,
      stateDir: fanPaths(deps.env).stateDir,
      links: () => {
        if (!sandboxLinks) throw new InternalError(`${name} needs sandboxLinks from the composition root`);
        return sandboxLinks();
      },
      portTable: () => portTable(),
      log: (line) => output.err(`fanctl ${name}: ${line}\n`),
      policy: () => policyCniDeps(deps.hostDeps(), policy),
      bindings: () => {
        const h = deps.hostDeps();
        return new bindings.NftPortBinder(h.runner, h.paths.stateDir);
      },
    };
  };
  const untilStopped = (): Promise<string> => {
    if (!deps.untilStopped) throw new InternalError('untilStopped is missing from the composition root');
    return deps.untilStopped();
  };
  const doctorIntervalOption = (): Option =>
    new Option('--doctor-interval <seconds>', "seconds between the metrics' background doctor runs (0: none)")
      .default(DEFAULT_DOCTOR_INTERVAL_SECONDS)
      .argParser(parseDoctorInterval);
  program
    .command('metrics')
    .description('serve Prometheus metrics (eBPF and nft counters, containers, IPAM, DHCP, fan up) until SIGTERM')
    .option('--listen <address>', 'HOST:PORT to listen on', DEFAULT_METRICS_LISTEN)
    .addOption(doctorIntervalOption())
    .action(async (opts: { listen: string; doctorInterval: number }) => {
      const [{ runAgent }, { metricsService }, policy, bindings] = await Promise.all([
        import('../agent/agent.js'),
        import('./commands/agent.js'),
        import('../app/policy.js'),
        import('../app/port-bindings.js'),
      ]);
      const ad = agentDeps('metrics', policy, bindings);
      await runAgent([metricsService(opts.listen, ad, opts.doctorInterval)], untilStopped, ad.log);
    });
  program
    .command('agent')
    .description(
      "fan's long-running services in one process (fan-agent.service; SIGTERM stops it): CNI calls forwarded by " +
        'the fan plugin (attach without a Node.js start per call), ' +
        'the metrics endpoint, and with --docker the Docker plugin',
    )
    .option(
      '--socket <path>',
      'unix socket of the CNI service (default: <state dir>/agent.sock, where the plugin looks)',
    )
    .option('--no-cni', 'do not serve CNI calls')
    .option('--metrics-listen <address>', 'HOST:PORT of the metrics endpoint', DEFAULT_METRICS_LISTEN)
    .option('--no-metrics', 'do not serve metrics')
    .addOption(doctorIntervalOption())
    .option('--docker', 'serve the Docker network and IPAM drivers from this process too')
    .option('--docker-socket <path>', 'unix socket Docker finds the plugin by (with --docker)', DEFAULT_DOCKER_SOCKET)
    .option('-v, --verbose', 'log every call')
    .option('--policy-etcd <urls>', "keep this host's policy equal to the document in etcd (fanctl policy watch)")
    .option('--policy-key <key>', 'the etcd key of the policy document (with --policy-etcd)', '/fan/policy')
    .action(async (opts: AgentOptions) => {
      const [{ runAgent }, { agentServices }, policy, bindings] = await Promise.all([
        import('../agent/agent.js'),
        import('./commands/agent.js'),
        import('../app/policy.js'),
        import('../app/port-bindings.js'),
      ]);
      const ad = agentDeps('agent', policy, bindings);
      const services = agentServices(opts, ad);
      if (services.length === 0) {
        throw new ConfigError(
          'the agent has nothing to run',
          'drop --no-cni or --no-metrics, or add --docker or --policy-etcd',
        );
      }
      await runAgent(services, untilStopped, ad.log);
    });
  program
    .command('install-service')
    .description('write the systemd units fan.service and fan-agent.service (and /etc/network/fan when absent)')
    .option('--root <dir>', 'install into this root directory instead of /', '/')
    .option('--fanctl <path>', 'the fanctl command the units run (default: this node and this checkout)')
    .option('-c, --config <path>', 'config file fan.service brings up', DEFAULT_FAN_CONFIG)
    .option('--unit-dir <dir>', 'where the units go', '/etc/systemd/system')
    .option('--json', 'print what was written as JSON')
    .action(async (opts: { root: string; fanctl?: string; config: string; unitDir: string } & JsonOption) => {
      const { installServiceCommand, renderInstallService } = await import('./commands/service.js');
      const report = await installServiceCommand(opts, fanPaths(deps.env).packageRoot);
      if (opts.json) printJson(output, report);
      else output.out(renderInstallService(report));
    });

  // fanctl port: the port binding (table bridge fan-bind) by hand, for veths fan's attach paths did not make.
  const port = program.command('port').description('bind bridge ports to the MAC and addresses they may send from');
  port
    .command('bind')
    .description('bind PORT (a host veth, existing or about to be created) to MAC and ADDRESS…')
    .argument('<port>', 'host-side interface name')
    .argument('<mac>', 'MAC of the container end, xx:xx:xx:xx:xx:xx')
    .argument('<address...>', 'IPv4 addresses the container may send from')
    .action(async (name: string, mac: string, addresses: string[]) => {
      const [{ NftPortBinder }, { isIpv4, parseIpv4 }] = await Promise.all([
        import('../app/port-bindings.js'),
        import('../core/address/ipv4.js'),
      ]);
      const h = deps.hostDeps();
      const list = addresses.map((a) => {
        if (!isIpv4(a)) throw new ConfigError(`"${a}" is not an IPv4 address`, 'write addresses as A.B.C.D');
        return parseIpv4(a);
      });
      await new NftPortBinder(h.runner, h.paths.stateDir).bind({ port: name, mac, addresses: list });
    });
  port
    .command('unbind')
    .description("forget PORT's binding (after its veth is gone)")
    .argument('<port>', 'host-side interface name')
    .action(async (name: string) => {
      const { NftPortBinder } = await import('../app/port-bindings.js');
      const h = deps.hostDeps();
      await new NftPortBinder(h.runner, h.paths.stateDir).unbind(name);
    });
  port
    .command('list')
    .description('the bound ports, as fan recorded them')
    .option('--json', 'as JSON')
    .action(async (opts: JsonOption) => {
      const [{ NftPortBinder }, { formatIpv4 }] = await Promise.all([
        import('../app/port-bindings.js'),
        import('../core/address/ipv4.js'),
      ]);
      const h = deps.hostDeps();
      const list = await new NftPortBinder(h.runner, h.paths.stateDir).list();
      const rows = list.map((b) => ({ port: b.port, mac: b.mac, addresses: b.addresses.map(formatIpv4) }));
      if (opts.json) printJson(output, rows);
      else output.out(rows.map((r) => `${r.port} ${r.mac} ${r.addresses.join(' ')}\n`).join(''));
    });

  refuseStrayWords(program);
  return program;
}

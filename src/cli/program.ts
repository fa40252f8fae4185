/**
 * fanctl's command table: every command and option in one place. Handlers are plain functions that return data;
 * printing is separate, and every read command takes --json. Commands throw; src/bin decides the exit code.
 */
import { Command, Option } from 'commander';
import { formatCidr } from '../core/address/ipv4.js';
import { DEFAULT_FAN_CONFIG } from '../core/config/fan-file.js';
import { toFanWords } from '../core/config/fan-spec.js';
import { ConfigError } from '../core/errors.js';
import type { HostReader, TextFiles } from '../ports/host.js';
import { type CalcOptions, mapCommand, sliceCommand } from './commands/calc.js';
import { readFanConfig } from './commands/config-check.js';
import { type Output, printJson } from './output.js';

export interface CliDeps {
  readonly output: Output;
  readonly host: HostReader;
  readonly files: TextFiles;
  readonly env: Readonly<Record<string, string | undefined>>;
}

interface JsonOption {
  json?: boolean;
}

const overlayOption = (): Option => new Option('-o, --overlay <cidr>', 'overlay network, e.g. 250.0.0.0/8 (or 250)');
const underlayOption = (): Option =>
  new Option('-u, --underlay <spec>', 'underlay: NETWORK/LEN, ADDRESS/LEN, IFACE/LEN or default/LEN');

export function buildProgram(deps: CliDeps): Command {
  const { output } = deps;
  const program = new Command('fanctl')
    .description('Fan networking on stock Linux kernels: compute, build and explain overlay networks mapped onto an underlay.')
    .version('0.1.0')
    .showHelpAfterError('(run fanctl help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => output.out(s), writeErr: (s) => output.err(s) });

  program
    .command('slice')
    .description("print the overlay slice owned by a host (this host's address on the underlay, or -u ADDRESS/LEN)")
    .addOption(overlayOption().makeOptionMandatory())
    .addOption(underlayOption().makeOptionMandatory())
    .option('--bridge <name>', 'bridge name to report instead of the derived one')
    .option('--json', 'print every derived field as JSON')
    .action(async (opts: CalcOptions & JsonOption) => {
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
    .option('--bridge <name>', 'bridge name to report instead of the derived one')
    .option('--json', 'print every derived field as JSON')
    .action((address: string, opts: CalcOptions & JsonOption) => {
      const report = mapCommand(address, opts);
      if (opts.json) printJson(output, report);
      else output.out(`${report.underlayHost}\n`);
    });

  const config = program.command('config').description('work with the fan config file');
  config
    .command('check')
    .description('validate the config file and list every problem')
    .option('-c, --config <path>', 'config file', deps.env.FAN_CONFIG ?? DEFAULT_FAN_CONFIG)
    .option('--json', 'print the parsed fans and problems as JSON')
    .action(async (opts: { config: string } & JsonOption) => {
      const parsed = await readFanConfig(deps.files, opts.config);
      if (opts.json) {
        printJson(output, {
          path: parsed.path,
          fans: parsed.fans.map((f) => ({ line: f.line, overlay: formatCidr(f.spec.overlay), underlay: f.spec.underlay.text, enabled: f.spec.enabled, words: toFanWords(f.spec) })),
          problems: parsed.problems,
        });
      } else {
        for (const f of parsed.fans) output.out(`${parsed.path}:${f.line}: ok ${toFanWords(f.spec).join(' ')}\n`);
        for (const p of parsed.problems) output.err(`${parsed.path}:${p.line}: ${p.message}${p.hint ? ` (${p.hint})` : ''}\n`);
      }
      if (parsed.problems.length > 0) {
        throw new ConfigError(`${parsed.problems.length} problem(s) in ${parsed.path}`, 'fix the lines listed above');
      }
    });

  return program;
}

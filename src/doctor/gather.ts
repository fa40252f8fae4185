/** Small read-only helpers the gather steps share; all go through the CommandRunner. */
import type { CommandRunner } from '../ports/runner.js';

/** A sysctl's value, or undefined when it does not exist here. */
export async function readSysctl(runner: CommandRunner, key: string): Promise<string | undefined> {
  const out = await runner.run(['sysctl', '-n', key], { allowFailure: true }).catch(() => undefined);
  return out?.exitCode === 0 ? out.stdout.trim() : undefined;
}

/** True when the tool runs at all (exit 127 or a spawn error: not installed). */
export async function hasTool(runner: CommandRunner, argv: readonly string[]): Promise<boolean> {
  const out = await runner.run(argv, { allowFailure: true }).catch(() => undefined);
  return out !== undefined && out.exitCode !== 127;
}

/** The device `ip route get ADDRESS` picks, or undefined when there is no route. */
export async function routeDevice(runner: CommandRunner, address: string): Promise<string | undefined> {
  const out = await runner.run(['ip', '-json', 'route', 'get', address], { allowFailure: true });
  if (out.exitCode !== 0) return undefined;
  const parsed = JSON.parse(out.stdout || '[]') as { dev?: string; type?: string }[];
  const first = parsed[0];
  return first?.type === 'unreachable' || first?.type === 'blackhole' || first?.type === 'prohibit'
    ? undefined
    : first?.dev;
}

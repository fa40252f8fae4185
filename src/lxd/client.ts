/**
 * LxdProfiles over the real `lxc` client (LXD 5.0's lxd-client). The client finds the daemon through LXD_DIR and
 * its own configuration through LXD_CONF, both taken from the environment it runs in; `--project` is passed on every
 * call when a project is named.
 */
import { z } from 'zod';
import { FanError } from '../core/errors.js';
import type { LxdProfileInfo, LxdProfiles } from '../ports/lxd.js';
import type { CommandRunner } from '../ports/runner.js';

const profileList = z.array(
  z.object({
    name: z.string(),
    description: z.string().default(''),
    config: z.record(z.string()).nullable().default({}),
    devices: z.record(z.record(z.string())).nullable().default({}),
    used_by: z.array(z.string()).nullable().default([]),
  }),
);

export class LxcProfiles implements LxdProfiles {
  constructor(
    private readonly runner: CommandRunner,
    private readonly options: { readonly project?: string; readonly lxc?: string } = {},
  ) {}

  private lxc(args: readonly string[], input?: string): Promise<{ stdout: string }> {
    const project = this.options.project === undefined ? [] : ['--project', this.options.project];
    return this.runner.run([this.options.lxc ?? 'lxc', ...args, ...project], {
      timeoutMs: 60_000,
      ...(input === undefined ? {} : { input }),
    });
  }

  async list(): Promise<LxdProfileInfo[]> {
    const out = await this.lxc(['profile', 'list', '--format', 'json']);
    const parsed = profileList.safeParse(JSON.parse(out.stdout || '[]'));
    if (!parsed.success)
      throw new FanError(
        `lxc profile list printed JSON fanctl does not understand: ${parsed.error.message}`,
        'check that the lxc client is LXD 4.0 or later',
      );
    return parsed.data.map((p) => ({
      name: p.name,
      description: p.description,
      config: p.config ?? {},
      devices: p.devices ?? {},
      usedBy: p.used_by ?? [],
    }));
  }

  async create(name: string): Promise<void> {
    await this.lxc(['profile', 'create', name]);
  }

  async edit(name: string, yaml: string): Promise<void> {
    await this.lxc(['profile', 'edit', name], yaml);
  }

  async delete(name: string): Promise<void> {
    await this.lxc(['profile', 'delete', name]);
  }

  async removeFrom(instance: string, profile: string): Promise<void> {
    await this.lxc(['profile', 'remove', instance, profile]);
  }
}

/**
 * LXD's profiles, as fanctl lxd enable/disable needs them. Implemented over the real `lxc` client by
 * src/lxd/client.ts; a fake in the unit tests.
 */

/** One profile as `lxc profile list --format json` reports it. */
export interface LxdProfileInfo {
  readonly name: string;
  readonly description: string;
  readonly config: Readonly<Record<string, string>>;
  readonly devices: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** API paths of the instances using it: `/1.0/instances/NAME` (`?project=P` outside the default project). */
  readonly usedBy: readonly string[];
}

export interface LxdProfiles {
  list(): Promise<LxdProfileInfo[]>;
  create(name: string): Promise<void>;
  /** Replaces the profile with `yaml` (what `lxc profile edit NAME` reads on stdin). */
  edit(name: string, yaml: string): Promise<void>;
  delete(name: string): Promise<void>;
  /** Takes the profile off one instance (`lxc profile remove INSTANCE PROFILE`). */
  removeFrom(instance: string, profile: string): Promise<void>;
}

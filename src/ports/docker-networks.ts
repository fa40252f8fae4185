/**
 * The policy group each Docker network was created with (`-o fan.group=NAME`), kept by the driver between calls:
 * Docker gives `-o` options only to CreateNetwork, while the endpoint's address comes from the IPAM driver, which
 * sees `--ipam-opt` options only. Implemented in src/store/docker-networks.ts and by test fakes.
 */
export interface NetworkGroups {
  group(networkId: string): Promise<string | undefined>;
  /** Records (or, with no group, forgets) the network's group. */
  set(networkId: string, group: string | undefined): Promise<void>;
}

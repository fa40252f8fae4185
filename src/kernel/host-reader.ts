import { decodeHostFacts } from '../codec/ip-json.js';
import type { HostFacts } from '../core/model/host-facts.js';
import type { HostReader } from '../ports/host.js';
import type { CommandRunner } from '../ports/runner.js';

/** Reads interfaces and main-table IPv4 routes with `ip -json`. */
export class IpHostReader implements HostReader {
  constructor(private readonly runner: CommandRunner) {}

  async readFacts(): Promise<HostFacts> {
    const [addresses, routes] = await Promise.all([
      this.runner.run(['ip', '-json', '-details', 'address', 'show']),
      this.runner.run(['ip', '-json', '-4', 'route', 'show']),
    ]);
    return decodeHostFacts(addresses.stdout, routes.stdout);
  }
}

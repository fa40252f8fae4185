/** The narrow ports the CLI's read-only commands need. Implemented in src/kernel and by test fakes. */
import type { HostFacts } from '../core/model/host-facts.js';

export interface HostReader {
  /** A snapshot of interfaces and routes in the current network namespace. */
  readFacts(): Promise<HostFacts>;
}

export interface TextFiles {
  /** File contents, or undefined when the file does not exist. */
  read(path: string): Promise<string | undefined>;
}

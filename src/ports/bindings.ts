/**
 * Port binding for the attach paths (CNI, the agent, Docker, the lab): a port is bound before its veth exists (CNI:
 * before its host end goes up) and unbound after the veth is gone, so no port that can pass a frame is ever without
 * its binding. Implemented by
 * src/app/port-bindings.ts (a state file + nftables table `bridge fan-bind`) and by test fakes.
 */
import type { PortBinding } from '../core/bind/binding.js';

export interface PortBinder {
  /** Binds the port, replacing its earlier binding and any other binding of its addresses. */
  bind(binding: PortBinding): Promise<void>;
  /** Forgets the port's binding; fine when it has none. */
  unbind(port: string): Promise<void>;
}

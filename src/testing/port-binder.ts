/** A PortBinder for unit tests: keeps the bindings in memory and records every call in order. */
import type { PortBinding } from '../core/bind/binding.js';
import type { PortBinder } from '../ports/bindings.js';

export class FakeBinder implements PortBinder {
  readonly bound = new Map<string, PortBinding>();
  readonly calls: string[] = [];

  bind(binding: PortBinding): Promise<void> {
    this.calls.push(`bind ${binding.port}`);
    this.bound.set(binding.port, binding);
    return Promise.resolve();
  }

  unbind(port: string): Promise<void> {
    this.calls.push(`unbind ${port}`);
    this.bound.delete(port);
    return Promise.resolve();
  }
}

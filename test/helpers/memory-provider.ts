import { EventEmitter } from 'node:events';
import type { Instance, Provider, ProviderEvents } from '../../src/providers/types.js';

/**
 * MemoryProvider is an in-memory Provider for controller and API tests: instances become ready
 * at once and record every scaleTo call. The real providers have their own suites.
 */
export class MemoryProvider extends EventEmitter<ProviderEvents> implements Provider {
  readonly kind = 'memory';
  readonly calls: number[] = [];
  #instances: Instance[] = [];
  #next = 1;

  constructor(readonly group: string) {
    super();
  }

  instances(): readonly Instance[] {
    return this.#instances;
  }

  desired(): number {
    return this.#instances.length;
  }

  async scaleTo(n: number): Promise<void> {
    this.calls.push(n);
    while (this.#instances.length < n) {
      const id = `${this.group}-${this.#next++}`;
      this.#instances.push({
        id,
        group: this.group,
        address: `127.0.0.1:${10000 + this.#next}`,
        state: 'ready',
        startedAt: 0,
        readyAt: 0,
      });
    }
    this.#instances = this.#instances.slice(0, n);
    this.emit('change');
  }

  async close(): Promise<void> {
    await this.scaleTo(0);
  }
}

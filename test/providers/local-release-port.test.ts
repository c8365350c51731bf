// release() while an instance waits for its port hands nothing over for it (it never ran), and the
// port that wait ends with is given back. Before, it stayed reserved for as long as the process ran:
// one port more after each deposition that caught a start.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PortReservations } from '../../src/providers/local/ports.js';
import { freePort } from '../helpers/ports.js';
import { makeProvider, memoryRegistry } from './local-helpers.js';

/** RecordedPorts tells when a port is given back. */
class RecordedPorts extends PortReservations {
  readonly released: number[] = [];
  #onRelease = () => {};
  override release(port: number): void {
    super.release(port);
    this.released.push(port);
    this.#onRelease();
  }
  /** releasedOnce resolves once `port` was given back, or says it was not after `ms` (a bound only). */
  releasedOnce(port: number, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.#onRelease = () => {
        if (!this.released.includes(port)) return;
        clearTimeout(timer);
        resolve(true);
      };
      this.#onRelease();
    });
  }
}

describe('local release while an instance waits for its port', () => {
  it('gives that port back once the wait ends', async (t) => {
    const ports = new RecordedPorts();
    let open = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let waiting = () => {};
    const atGate = new Promise<void>((resolve) => {
      waiting = resolve;
    });
    let found: (port: number) => void = () => {};
    const foundPort = new Promise<number>((resolve) => {
      found = resolve;
    });
    const find = async () => {
      waiting();
      await gate;
      const port = await freePort();
      found(port);
      return port;
    };
    const provider = makeProvider(t, {}, { registry: memoryRegistry(), freePort: find, ports });
    await provider.start();
    const scaled = provider.scaleTo(1);
    await atGate;
    await provider.release();
    await scaled;
    open();
    const port = await foundPort;
    const released = await ports.releasedOnce(port, 10_000);
    assert.ok(released, `port ${port} stayed reserved after release (held: ${ports.held(port)})`);
    assert.equal(ports.held(port), false, `port ${port} still held`);
    assert.deepEqual(provider.instances(), [], 'nothing is listed after release');
  });
});

// A resize whose old instance drains for longer than a minute (the balancer's drain_timeout raised
// for WebSockets or long downloads, which stay in flight until it) waits for the drain and
// finishes. Before, the roll gave each old instance stop_timeout + 60 s to stop, then failed the
// resize with RESIZE_FAILED and reverted its size, while the instance drained on: every resize of
// a group holding such a connection failed. (Slow by nature: the drain must outlast that minute.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { detectCgroups } from '../../src/providers/index.js';
import { makeProvider } from './local-helpers.js';

const layout = detectCgroups();
const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;
/** What the old instance's drain takes: past the former bound, stop_timeout (500 ms) + 60 s. */
const DRAIN_MS = 62_000;

describe('a resize whose old instance drains for over a minute', { skip }, () => {
  it('waits for the drain and finishes at the new size', { timeout: 120_000 }, async (t) => {
    let old: string | undefined;
    const drained: string[] = [];
    const provider = makeProvider(
      t,
      { stopTimeout: 500 },
      {
        // The balancer's drain: the old instance holds a connection until drain_timeout (62 s).
        drain: async (instance) => {
          if (instance.id === old) await delay(DRAIN_MS);
          drained.push(instance.id);
        },
      },
    );
    await provider.scaleTo(1);
    old = provider.instances()[0]!.id;
    await provider.resize({ memory: 128 * 2 ** 20 });
    assert.deepEqual(drained, [old], `drained: ${drained.join(', ')}`);
    const list = provider.instances();
    assert.equal(list.length, 1, JSON.stringify(list));
    assert.equal(list[0]!.size?.memory, 128 * 2 ** 20, JSON.stringify(list));
    assert.deepEqual(provider.size(), { memory: 128 * 2 ** 20 }, 'the size in force is the new one');
  });
});

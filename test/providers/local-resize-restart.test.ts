// The size a resize put in force outlives a controller restart with a state store, as a resized
// Deployment stays resized: before, adopted instances kept their size but every new one (a scale-out
// after the restart, a replacement) went back to the config's `resources`.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FileState } from '../../src/controller/state/index.js';
import { detectCgroups } from '../../src/providers/index.js';
import { closeBeforeRemoval, makeProvider, tempDir } from './local-helpers.js';

const layout = detectCgroups();
const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;
const MIB = 1024 * 1024;

describe('a resize and a controller restart', { skip }, () => {
  it('new instances after the restart get the resized size; a changed config wins over it', async (t) => {
    const dir = await tempDir(t, 'resize-restart');
    const state = new FileState({ path: join(dir, 'state.json') });
    closeBeforeRemoval(t, state);
    const controller = (memory: number) =>
      makeProvider(t, {}, { registry: state, logDir: dir, size: { memory: memory * MIB } });

    const first = controller(256);
    await first.start();
    await first.scaleTo(1);
    await first.resize({ memory: 384 * MIB });
    await first.release();

    // Restarted with the same config: adopts the resized instance, and a scale-out matches it.
    const second = controller(256);
    await second.start();
    const adopted = new Set(second.instances().map((i) => i.id));
    await second.scaleTo(2);
    const fresh = second.instances().filter((i) => !adopted.has(i.id));
    assert.equal(fresh.length, 1);
    assert.equal(fresh[0]!.size?.memory, 384 * MIB, JSON.stringify(fresh));
    assert.deepEqual(second.size(), { memory: 384 * MIB });
    await second.release();

    // Restarted after `resources` was edited in the YAML: the config wins, the saved size is dropped.
    const third = controller(320);
    await third.start();
    assert.deepEqual(third.size(), { memory: 320 * MIB });
    await third.scaleTo(3);
    assert.equal(third.instances().at(-1)!.size?.memory, 320 * MIB);
    await third.scaleTo(0);
    assert.equal(await state.getSize('web'), undefined);
  });
});

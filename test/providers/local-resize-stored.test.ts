// A local group's resize tells its caller of the state store write of the new size as soon as the
// roll starts (ResizeOptions.onSizeSaved), so the control API answers 202 only once a successor
// would start with that size: before, the write ran in the background and a leader killed before
// it landed left its successor at the previous size.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FileState } from '../../src/controller/state/index.js';
import { detectCgroups } from '../../src/providers/index.js';
import { closeBeforeRemoval, makeProvider, tempDir } from './local-helpers.js';

const layout = detectCgroups();
const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;
const MIB = 1024 * 1024;

describe('a local resize with a state store', { skip }, () => {
  it('hands over the write of the new size before the roll is done', async (t) => {
    const dir = await tempDir(t, 'resize-stored');
    const state = new FileState({ path: join(dir, 'state.json') });
    closeBeforeRemoval(t, state);
    const provider = makeProvider(t, {}, { registry: state, logDir: dir, size: { memory: 256 * MIB } });
    assert.equal(provider.savesSize, true);
    await provider.start();
    await provider.scaleTo(1);

    const writes: Promise<void>[] = [];
    let rolled = false;
    const done = provider
      .resize({ memory: 384 * MIB }, { onSizeSaved: (write) => writes.push(write) })
      .then(() => {
        rolled = true;
      });
    assert.equal(writes.length, 1, 'the size write was handed over as the roll started');
    await writes[0];
    assert.equal(rolled, false, 'the write was handed over only with the whole roll');
    assert.deepEqual((await state.getSize('web'))?.size, { memory: 384 * MIB });
    await done;
    await provider.scaleTo(0);
    const plain = makeProvider(t);
    assert.equal(plain.savesSize, false, 'without a state store there is no write');
    await plain.close();
  });
});

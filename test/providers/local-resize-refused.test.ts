// A resize where this process may create no cgroup (not root, a cgroup v2 without delegation) is
// refused at once, UNSUPPORTED, naming why; before, it rolled: every replacement failed to start
// ("cannot apply its size"), counted as crashes until a crash loop, and failed as RESIZE_FAILED.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeProvider, recordingLogger } from './local-helpers.js';

describe('local provider: a resize without writable cgroups', () => {
  it('is refused at once, UNSUPPORTED, and replaces nothing', async (t) => {
    const logger = recordingLogger();
    // A hierarchy this process cannot create cgroups in: mkdir fails (ENOTDIR), as EACCES does
    // for a user without cgroup rights.
    const provider = makeProvider(
      t,
      {},
      { logger, cgroups: { version: 'v2', root: '/dev/null/no-cgroups-here' } },
    );
    await provider.scaleTo(2);
    const before = provider.instances().map((i) => i.id);
    let crashes = 0;
    provider.on('crash', () => crashes++);
    const refused = await provider.resize({ memory: 64 * 2 ** 20 }).then(
      () => undefined,
      (err: Error & { code?: string }) => err,
    );
    assert.ok(refused, 'the resize was not refused');
    assert.equal(refused.code, 'UNSUPPORTED', `refused as ${refused.code}: ${refused.message}`);
    assert.match(refused.message, /needs cgroups writable by this process: .*ENOTDIR/);
    assert.equal(crashes, 0, `${crashes} replacement(s) failed as crashes`);
    assert.deepEqual(
      provider.instances().map((i) => i.id),
      before,
      'instances were replaced',
    );
    assert.equal(provider.size(), undefined, 'the refused size was kept for new instances');
  });

  it('says nothing against a size it can apply', async (t) => {
    const provider = makeProvider(t, {}, { cgroups: null });
    assert.match(provider.resizeRefusal({ cpu: 0.5 }) ?? '', /has none usable/);
    assert.equal(provider.resizeRefusal({}), undefined, 'an empty size needs no cgroup');
  });
  it('a configured size no instance can get fails the start, naming the key, and starts nothing', async (t) => {
    // Before: the start succeeded, and every instance then failed "cannot apply its size" as a
    // crash, while `scaleplane up` ran on serving nothing.
    const provider = makeProvider(
      t,
      {},
      { size: { memory: 64 * 2 ** 20 }, cgroups: { version: 'v2', root: '/dev/null/no-cgroups-here' } },
    );
    const failed = await provider.start().then(
      () => undefined,
      (err: Error & { code?: string }) => err,
    );
    assert.ok(failed, 'the start did not fail');
    assert.equal(failed.code, 'UNSUPPORTED', `failed as ${failed.code}: ${failed.message}`);
    assert.match(
      failed.message,
      /^groups\.web\.resources cannot be applied on this machine: needs cgroups writable by this process: .*ENOTDIR.*run Scaleplane as root/,
    );
    assert.equal(provider.instances().length, 0, 'instances started');
  });
});

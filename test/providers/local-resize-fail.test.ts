// A resize whose instances never become ready (here: a memory limit the app exceeds, so the kernel
// OOM-kills each one inside its cgroup) stops, keeps the old instances serving, and leaves the
// group able to grow and heal at its old size. Before, the failed size stayed the one every new
// instance got: a scale-out after it started instances that were OOM-killed in turn, crash-looped,
// and left the group below its desired count (2 of 3) until someone resized again. Its error names
// the cause, the last replacement's failure (OOM-killed at 32 MiB).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { detectCgroups } from '../../src/providers/index.js';
import { freePort } from '../helpers/ports.js';
import { APP, makeProvider, SPIKY, tempDir } from './local-helpers.js';

const layout = detectCgroups();
const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;

// The app touches 48 MiB while it starts (then holds ~10 MiB): fine without a limit, OOM-killed
// under 32 MiB. (One that holds 48 MiB while serving is refused up front: local-resize-usage.)

describe('a resize that cannot become ready', { skip }, () => {
  it('keeps the old instances, reverts the size, and a scale-out after it reaches its count', async (t) => {
    const provider = makeProvider(t, { command: SPIKY, crashLoopLimit: 2 });
    await provider.scaleTo(2);
    const before = provider.instances().map((i) => i.pid);

    // The failure says why, as the crash entries do: before, only "(crash loop or closing)".
    await assert.rejects(provider.resize({ memory: 32 * 1024 * 1024 }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'RESIZE_FAILED', err.message);
      assert.match(err.message, /crash loop: \d+ failures in 60000 ms/, err.message);
      assert.match(
        err.message,
        /the last to fail, web-\d+: .*OOM killer at its memory limit of 32 MiB/,
        err.message,
      );
      return true;
    });
    const serving = provider
      .instances()
      .filter((i) => i.state === 'ready')
      .map((i) => i.pid);
    assert.deepEqual(serving, before, 'the old instances still serve');
    assert.equal(provider.size(), undefined, 'new instances get the previous size');

    await provider.scaleTo(3);
    const ready = provider.instances().filter((i) => i.state === 'ready');
    assert.equal(ready.length, 3, 'scaled out to 3 ready instances');
    assert.ok(
      ready.every((i) => i.size === undefined),
      'ready.every((i) => i.size === undefined)',
    );
  });

  // Kubernetes keeps a pod's CrashLoopBackOff across a rollback of its Deployment. Before, a failed
  // resize forgot every crash, the group's own too: a group crash-looping at its old size (a
  // dependency down) restarted at once, its backoff back at the start, after every failed resize.
  it('keeps the crash-loop pause of a group that crash-loops at its old size', async (t) => {
    const dir = await tempDir(t, 'resize-loop');
    const broken = join(dir, 'broken');
    let lookups = 0;
    const provider = makeProvider(
      t,
      // Exits at once while the file exists: a dependency that is down.
      { command: `test -e "${broken}" && exit 1; exec "${process.execPath}" "${APP}"`, crashLoopLimit: 2 },
      {
        restartBackoff: { initialMs: 50, maxMs: 100, pausedRetryMs: 600_000 },
        // Each start asks for a port first: the count of starts tried.
        freePort: () => {
          lookups++;
          return freePort();
        },
      },
    );
    await provider.scaleTo(1);
    await writeFile(broken, '');
    const loop = once(provider, 'crashLoop');
    void provider.scaleTo(3);
    await loop;
    const tried = lookups;
    await assert.rejects(provider.resize({ cpu: 0.5 }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'RESIZE_FAILED', err.message);
      return true;
    });
    // Anything the rollback set off has begun (a start asks for its port at once).
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(
      lookups,
      tried,
      `the failed resize lifted the old size's crash-loop pause: ${lookups - tried} start(s) tried at once`,
    );
    assert.equal(
      provider.instances().filter((i) => i.state === 'ready').length,
      1,
      'the instance that serves still serves',
    );
  });
});

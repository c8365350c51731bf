// A crash loop pauses replacement, but not for good: one instance is still tried every
// `pausedRetryMs` (the kubelet's CrashLoopBackOff keeps trying too), and once one is ready the
// group fills up again. Before, the pause lasted until the next scaleTo, which the controller sends
// only when the policy changes the count: a steady group whose dependency was down for a minute
// stayed at 0 of 2 for good.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { APP, makeProvider, tempDir, until } from './local-helpers.js';

test('a group paused by a crash loop recovers on its own once its instances can start', async (t) => {
  const dir = await tempDir(t, 'crashloop');
  const broken = join(dir, 'broken');
  await writeFile(broken, '');
  const provider = makeProvider(
    t,
    // Exits at once while the file exists: a dependency that is down.
    { command: `test -e "${broken}" && exit 1; exec "${process.execPath}" "${APP}"`, crashLoopLimit: 2 },
    { restartBackoff: { initialMs: 50, maxMs: 100, pausedRetryMs: 300 } },
  );
  const loop = once(provider, 'crashLoop');
  let maxStarting = 0;
  provider.on('change', () => {
    maxStarting = Math.max(maxStarting, provider.instances().filter((i) => i.state === 'starting').length);
  });
  const scaled = provider.scaleTo(2);
  await loop;
  await scaled;
  // Paused: the probes start one instance at a time.
  await once(provider, 'crash');
  maxStarting = 0;
  await once(provider, 'crash');
  assert.equal(maxStarting, 1, 'a paused group tries one instance at a time');

  await rm(broken);
  const started = performance.now();
  await until(provider, () => provider.instances().filter((i) => i.state === 'ready').length === 2, 10_000);
  t.diagnostic(`2 of 2 ready ${((performance.now() - started) / 1000).toFixed(1)} s after the fault ended`);
  assert.equal(provider.desired(), 2);
});

// A crashed instance is replaced after a backoff, and min_ready, the crash-loop window and the log
// line rate are waits too. They ran on the provider's clock of timestamps, Date.now: a step back of
// the system clock (NTP, a VM resumed, `date -s`) during a backoff held the replacement off for as
// long as the step, the group below its desired count meanwhile. They now run on a monotonic clock
// (`elapsed`); the clock of timestamps (`now`) is stepped here.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { APP, makeProvider, tempDir, until } from './local-helpers.js';

test('a step back of the clock during a restart backoff does not hold the replacement off', async (t) => {
  const dir = await tempDir(t, 'backoff-step');
  const broken = join(dir, 'broken');
  await writeFile(broken, '');
  let step = 0;
  const provider = makeProvider(
    t,
    // Exits at once while the file exists: a dependency that is down.
    { command: `test -e "${broken}" && exit 1; exec "${process.execPath}" "${APP}"` },
    { now: () => Date.now() - step, restartBackoff: { initialMs: 200, maxMs: 200 } },
  );
  // At the first crash the clock steps back 10 min and the dependency comes back: the replacement
  // after the 100-200 ms backoff starts and stays.
  provider.once('crash', () => {
    step = 10 * 60_000;
    void rm(broken, { force: true });
  });
  await provider.scaleTo(1);
  await until(provider, () => provider.instances().filter((i) => i.state === 'ready').length === 1, 10_000);
  assert.equal(step, 10 * 60_000, 'the clock stepped back at the crash');
  assert.equal(provider.desired(), 1, 'one instance desired');
});

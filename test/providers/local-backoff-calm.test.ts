// A crashed instance's replacement waits a backoff that doubles with each crash in a row. The row
// was ended only by a crash of an instance that had stayed ready `resetAfterMs`: after an outage
// (a dependency down: 6 crashes, the backoff at 32 s) the group recovered and ran for an hour, and
// the next failure of another instance (a scale-out's start, a young instance) still counted as
// the 7th in a row: its replacement waited 32-64 s, the group below its count meanwhile. Now a
// crash that comes long after the last one (its backoff, a start timeout and `resetAfterMs` later)
// starts the row over, as the kubelet forgets a container's backoff after a calm period.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { APP, makeProvider, tempDir, until } from './local-helpers.js';

test('a failure an hour after a recovered crash loop is replaced after the first backoff, not the 7th', async (t) => {
  const dir = await tempDir(t, 'backoff-calm');
  const broken = join(dir, 'broken');
  writeFileSync(broken, '');
  // The provider's monotonic clock, moved on by hand: the outage's backoffs pass at once, and the
  // hour of calm takes no time.
  let offset = 0;
  const initialMs = 1000;
  const provider = makeProvider(
    t,
    // Exits at once while the file exists: a dependency that is down.
    { command: `test -e "${broken}" && exit 1; exec "${process.execPath}" "${APP}"`, crashLoopLimit: 50 },
    {
      elapsed: () => performance.now() + offset,
      random: () => 0,
      restartBackoff: { initialMs, maxMs: 3_600_000, resetAfterMs: 60_000 },
    },
  );
  let crashes = 0;
  const outage = () => {
    crashes++;
    // Jitter 0: the next start comes half the base after the crash; the clock skips that wait.
    offset += (initialMs * 2 ** (crashes - 1)) / 2;
    if (crashes === 6) {
      provider.off('crash', outage);
      rmSync(broken);
    }
  };
  provider.on('crash', outage);
  await provider.scaleTo(1);
  await until(provider, () => provider.instances().filter((i) => i.state === 'ready').length === 1, 15_000);
  assert.equal(crashes, 6, 'the outage cost 6 crashes in a row');
  t.diagnostic('recovered after 6 crashes in a row');

  // An hour later a new instance fails once (the dependency briefly down again).
  offset += 3_600_000;
  writeFileSync(broken, '');
  provider.once('crash', () => rmSync(broken));
  void provider.scaleTo(2);
  // Its replacement comes after the first backoff (0.5 s), not the 7th (32 s).
  await until(provider, () => provider.instances().filter((i) => i.state === 'ready').length === 2, 15_000);
  assert.equal(provider.instances().length, 2, 'two instances, both ready');
});

// Refused API requests are logged at most once per address and status per interval, the next line
// counting those left out (log-throttle.ts). The interval ran on Date.now: a step back of the system
// clock (NTP, a VM resumed, `date -s`) kept every refusal of that address out of the log for as long
// as the step, probing and fuzzing unseen. Date.now is replaced here; performance.now is left alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { startApi } from '../helpers/api-harness.js';

test('a step back of the system clock does not keep refused requests out of the log', async (t) => {
  const warnings: string[] = [];
  const api = await startApi({
    server: {
      refusalLogIntervalMs: 100,
      logger: { warn: (_fields: object, msg?: string) => warnings.push(msg ?? '') },
    },
  });
  const real = Date.now;
  t.after(async () => {
    Date.now = real;
    await api.close();
  });
  const refuse = async () => {
    const res = await api.call('/api/scalability/groups/nope');
    assert.equal(res.status, 404, 'an unknown group is refused');
  };
  await refuse();
  assert.deepEqual(warnings, ['API request refused'], 'the first refusal is logged');
  Date.now = () => real() - 3_600_000;
  // The interval is 100 ms: refused again for up to 5 s, a line comes long before.
  const since = performance.now();
  while (warnings.length === 1 && performance.now() - since < 5_000) {
    await refuse();
    await delay(20);
  }
  Date.now = real;
  assert.ok(warnings.length > 1, `refusals after the step are logged: ${JSON.stringify(warnings)}`);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StallWatch } from '../../src/cache/stall-watch.js';

test('StallWatch: stuck only when a command sent `ticks` ticks ago is unanswered', () => {
  // Each case: per tick, commands sent and answered before it, then whether that tick reports a stall.
  const cases: { name: string; steps: [sent: number, settled: number, stalled: boolean][] }[] = [
    {
      name: 'idle',
      steps: [
        [0, 0, false],
        [0, 0, false],
        [0, 0, false],
        [0, 0, false],
      ],
    },
    {
      name: 'answered within the timeout',
      steps: [
        [5, 0, false],
        [5, 0, false],
        [5, 5, false],
        [5, 5, false],
      ],
    },
    {
      name: 'one command unanswered for 3 ticks (timeout 3)',
      steps: [
        [1, 0, false],
        [0, 0, false],
        [0, 0, false],
        [0, 0, true],
      ],
    },
    {
      name: 'busy but moving: newer commands pending, the old ones answered',
      steps: [
        [10, 0, false],
        [10, 10, false],
        [10, 10, false],
        [10, 10, false],
        [10, 10, false],
      ],
    },
  ];
  for (const { name, steps } of cases) {
    const watch = new StallWatch(3);
    steps.forEach(([sent, settled, stalled], i) => {
      watch.sent += sent;
      watch.settled += settled;
      assert.equal(watch.tick(), stalled, `${name}: tick ${i}`);
    });
  }
});

test('StallWatch: forget() reports a stall once', () => {
  const watch = new StallWatch(2);
  watch.sent = 1;
  watch.tick();
  watch.tick();
  assert.equal(watch.tick(), true);
  watch.forget();
  assert.equal(watch.tick(), false);
  assert.equal(watch.tick(), false);
  assert.throws(() => new StallWatch(0), RangeError);
});

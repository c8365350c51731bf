// forgetRoll: a failed resize forgets its own crashes and keeps the group's (pure, table-driven).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  backoffUntil,
  type CrashHistory,
  type CrashMark,
  forgetRoll,
  streakWith,
} from '../../src/providers/local/crash-history.js';

const backoff = { initialMs: 100, maxMs: 1000 };
const at = { now: 10_000, windowMs: 5_000, limit: 2, backoff, jitter: 0 };
const c = (t: number, generation: number): CrashMark => ({ at: t, generation });

describe('forgetRoll', () => {
  const cases: {
    name: string;
    history: CrashHistory;
    want: { streak: number; window: number; backoffUntil: number; endPause: boolean };
  }[] = [
    {
      name: 'only the roll’s crashes: all forgotten, its pause ends, no backoff',
      history: {
        streak: [c(9000, 2), c(9100, 2), c(9200, 2)],
        window: [c(9000, 2), c(9100, 2), c(9200, 2)],
        pausedBy: 2,
      },
      want: { streak: 0, window: 0, backoffUntil: 0, endPause: true },
    },
    {
      name: 'the group crash-looped at its old size first: pause and backoff stay',
      history: {
        streak: [c(9000, 1), c(9100, 1), c(9200, 1), c(9300, 2)],
        window: [c(9000, 1), c(9100, 1), c(9200, 1), c(9300, 2)],
        pausedBy: 1,
      },
      // 3 in a row at the old size: base 400, half of it with jitter 0, after the last (9200).
      want: { streak: 3, window: 3, backoffUntil: 9400, endPause: false },
    },
    {
      name: 'the roll’s crash began the pause, but the old size alone passes the limit: it stays',
      history: {
        streak: [c(9000, 1), c(9100, 2), c(9200, 1), c(9300, 1)],
        window: [c(9000, 1), c(9100, 2), c(9200, 1), c(9300, 1)],
        pausedBy: 2,
      },
      want: { streak: 3, window: 3, backoffUntil: 9500, endPause: false },
    },
    {
      name: 'the roll’s crash began the pause; the old size’s are within the limit: it ends',
      history: {
        streak: [c(9000, 1), c(9100, 2), c(9200, 2)],
        window: [c(9000, 1), c(9100, 2), c(9200, 2)],
        pausedBy: 2,
      },
      want: { streak: 1, window: 1, backoffUntil: 9050, endPause: true },
    },
    {
      name: 'old crashes out of the window do not count towards keeping the pause',
      history: {
        streak: [c(1000, 1), c(2000, 1), c(3000, 1), c(9100, 2)],
        window: [c(1000, 1), c(2000, 1), c(3000, 1), c(9100, 2)],
        pausedBy: 2,
      },
      want: { streak: 3, window: 0, backoffUntil: 3200, endPause: true },
    },
    {
      name: 'not paused: nothing to end',
      history: { streak: [c(9000, 1)], window: [c(9000, 1)], pausedBy: undefined },
      want: { streak: 1, window: 1, backoffUntil: 9050, endPause: false },
    },
  ];
  for (const { name, history, want } of cases) {
    it(name, () => {
      const got = forgetRoll(history, 2, at);
      assert.deepEqual(
        {
          streak: got.history.streak.length,
          window: got.history.window.length,
          backoffUntil: got.backoffUntil,
          endPause: got.endPause,
        },
        want,
      );
      assert.equal(got.history.pausedBy, got.endPause ? undefined : history.pausedBy, 'pausedBy');
    });
  }

  it('backoffUntil doubles per crash in a row, capped at maxMs, with equal jitter', () => {
    const streak = (n: number) => Array.from({ length: n }, (_, i) => c(i, 0));
    assert.equal(backoffUntil([], backoff, 0.5), 0, 'no crash: no wait');
    assert.equal(backoffUntil(streak(1), backoff, 0), 0 + 50, 'first crash: half of initialMs at jitter 0');
    assert.equal(backoffUntil(streak(1), backoff, 1), 0 + 100, 'first crash: all of initialMs at jitter 1');
    assert.equal(backoffUntil(streak(3), backoff, 0), 2 + 200, 'third: 400, half of it');
    assert.equal(backoffUntil(streak(9), backoff, 0), 8 + 500, 'capped at maxMs (1000), half of it');
  });
});

describe('streakWith', () => {
  // Streak of 3 crashes, the last at 1000: base 400; calm after 400 + 2000 (start timeout) + 5000.
  const streak = [c(0, 0), c(500, 0), c(1000, 0)];
  const opts = { resetAfterMs: 5000, startTimeoutMs: 2000, backoff };
  const cases: { name: string; crash: number; readySince?: number; want: number }[] = [
    { name: 'a crash soon after the last one adds to the row', crash: 3000, want: 4 },
    { name: 'one just before the calm period ends still adds to it', crash: 1000 + 7399, want: 4 },
    { name: 'one at the end of the calm period starts it over', crash: 1000 + 7400, want: 1 },
    { name: 'an hour later: starts it over', crash: 3_601_000, want: 1 },
    { name: 'an instance ready resetAfterMs starts it over', crash: 8000, readySince: 3000, want: 1 },
    { name: 'an instance ready less than that adds to it', crash: 8000, readySince: 3001, want: 4 },
  ];
  for (const { name, crash, readySince, want } of cases) {
    it(name, () => {
      const got = streakWith(streak, c(crash, 0), { ...opts, readySince });
      assert.equal(got.length, want, 'streak length');
      assert.deepEqual(got.at(-1), c(crash, 0), 'the crash is the last of the streak');
    });
  }
  it('the first crash is a streak of one', () => {
    assert.deepEqual(streakWith([], c(5, 1), { ...opts, readySince: undefined }), [c(5, 1)], 'one crash');
  });
});

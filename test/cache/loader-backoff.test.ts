// LoaderBackoff leaves a failed loader alone for `staleIfErrorBackoff` while a stale value stands in.
// It runs on the cache's clock, the wall clock (the entries' times are on it): a step back of the
// system clock (NTP, a VM resumed, `date -s`) held the loader off for as long as the step, and a
// value past its TTL was served stale without a try for all that time. A time before the failure
// now ends the backoff.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoaderBackoff } from '../../src/cache/loader-backoff.js';

describe('LoaderBackoff', () => {
  // A load of `k` failed at 1_000_000 with a 10-s backoff.
  const cases: [what: string, now: number, waiting: boolean][] = [
    ['at the failure', 1_000_000, true],
    ['1 ms before its end', 1_009_999, true],
    ['at its end', 1_010_000, false],
    ['the clock stepped back 1 ms before the failure', 999_999, false],
    ['the clock stepped back 1 h', 1_000_000 - 3_600_000, false],
  ];
  for (const [what, now, waiting] of cases)
    it(`${what}: ${waiting ? 'waiting' : 'not waiting'}`, () => {
      const backoff = new LoaderBackoff();
      backoff.failed('k', 1_000_000, 10_000);
      assert.equal(backoff.waiting('k', now), waiting, `waiting('k', ${now})`);
    });
});

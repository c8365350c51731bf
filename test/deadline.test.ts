// deadline() against Node 20's AbortSignal.timeout under forced garbage collection. A timeout held
// only through AbortSignal.any is collected before it fires (nodejs/node#57736, fixed in Node 22+
// by #57867), and the signal built on it then never aborts; a Deadline's timer holds its signal.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { deadline } from '../src/deadline.js';
import { within } from './helpers/until.js';

// gc() without --expose-gc on the command line (the test runner takes no flags per file).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** collecting calls gc() every few ms until the returned stop is called. */
function collecting(): () => void {
  const timer = setInterval(gc, 5);
  return () => clearInterval(timer);
}

/** onAbort resolves with `signal`'s reason once it aborts. */
function onAbort(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(signal.reason), { once: true }),
  );
}

describe('deadline', () => {
  it('Node 20: AbortSignal.any([AbortSignal.timeout(ms)]) loses its timeout to gc before the time is up, and never aborts', async () => {
    const registry = new FinalizationRegistry<() => void>((collected) => collected());
    let raw: AbortSignal | undefined;
    const collected = new Promise<void>((resolve) => {
      // Made in a function of its own, so that no frame of this test holds the timeout itself.
      raw = (() => {
        const timeout = AbortSignal.timeout(60_000);
        registry.register(timeout, resolve);
        const any = AbortSignal.any([timeout]);
        // Listened to, as fetch listens to its signal.
        void onAbort(any);
        return any;
      })();
    });
    const stop = collecting();
    try {
      await within('the timeout signal being collected', 20_000, collected);
    } finally {
      stop();
    }
    // Collected unfired, 60 s early: the timer that was to abort it finds nothing, so the signal
    // built on it cannot abort any more. (If a Node 20 release fixes #57736, this case says so.)
    assert.equal(raw?.aborted, false, 'the signal built on the collected timeout is not aborted');
  });

  it("a deadline's signal, held by nothing but its own listener and a caller's signal, aborts at the time while gc runs", async () => {
    const cancel = new AbortController();
    const fired = (() => onAbort(deadline(50, cancel.signal).signal))();
    const stop = collecting();
    try {
      const reason = await within('the deadline aborting under gc', 10_000, fired);
      assert.ok(reason instanceof DOMException, String(reason));
      assert.equal(reason.name, 'TimeoutError');
    } finally {
      stop();
    }
  });

  it("the caller's abort passes its reason; clear leaves no timer running and no listener on the caller's signal", async () => {
    const cancel = new AbortController();
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const limit = deadline(60_000, cancel.signal);
    assert.equal(timers(), before + 1, 'the deadline runs one timer');
    assert.equal(getEventListeners(cancel.signal, 'abort').length, 1, 'the deadline follows the caller');
    limit.clear();
    assert.equal(timers(), before, 'clear stopped the timer');
    assert.equal(getEventListeners(cancel.signal, 'abort').length, 0, 'clear let go of the caller');

    const cut = deadline(60_000, cancel.signal);
    cancel.abort('the agent moved on');
    assert.equal(cut.signal.reason, 'the agent moved on');
    assert.equal(cut.timedOut, false, 'cut short by the caller, not timed out');
    assert.equal(timers(), before, "the caller's abort stopped the timer");

    const late = deadline(60_000, cancel.signal);
    assert.equal(late.signal.aborted, true, 'a caller that aborted already aborts it at once');
    late.clear();
  });
});

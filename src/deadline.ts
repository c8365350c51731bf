/**
 * Deadline is an operation's time limit as an AbortSignal, on a plain timer. `signal` aborts with
 * a TimeoutError once `ms` have passed (the reason AbortSignal.timeout gives, so code that tells a
 * timeout by its name still does), or with the reason of the caller's own signal when that aborts
 * first.
 *
 * Not AbortSignal.timeout: on Node 20 its timer holds the signal weakly, and AbortSignal.any holds
 * its sources weakly too, so `AbortSignal.any([AbortSignal.timeout(ms), cancel])` can be
 * garbage-collected before the time runs out, and it then never fires (nodejs/node#57736; the fix,
 * #57867, is in no Node 20). An operation whose only bound it was waited as long as its peer did.
 * Here the timer holds the controller and the caller's signal holds the listener that follows it:
 * nothing is weak, and no AbortSignal.any is needed (test/meta/abort-signal-any.test.ts).
 */
export interface Deadline {
  /** signal aborts when the time runs out or the caller's signal aborts, whichever comes first. */
  readonly signal: AbortSignal;
  /** timedOut is true once the time ran out first (not when the caller's signal aborted first). */
  readonly timedOut: boolean;
  /** clear stops the timer and lets go of the caller's signal: call it when the operation ends. */
  clear(): void;
}

/**
 * deadline starts a Deadline of `ms` milliseconds, cut short by `cancel` when given. Clear it in a
 * `finally` once the operation (body read included) is over, so no timer is left running.
 */
export function deadline(ms: number, cancel?: AbortSignal): Deadline {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
  }, ms);
  const follow = () => {
    clearTimeout(timer);
    controller.abort(cancel?.reason);
  };
  if (cancel?.aborted) follow();
  else cancel?.addEventListener('abort', follow, { once: true });
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut;
    },
    clear() {
      clearTimeout(timer);
      cancel?.removeEventListener('abort', follow);
    },
  };
}

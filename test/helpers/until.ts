/**
 * until polls `condition` every few milliseconds (no fixed sleeps) until it holds, failing after
 * `timeoutMs` with `what`. The deadline is generous on purpose: it bounds a hang, it is not a
 * performance assertion, so a slow CI machine only makes the wait longer.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/**
 * TIMER_SLACK_MS is how early, by a clock read before the call, a Node timer may fire: it runs
 * from the event loop's cached time, which lags the real time by the work done since the loop
 * last woke (299 ms was seen for a 300 ms timeout on a busy machine). An assertion that a wait
 * lasted at least a timeout allows this much, and still fails for a wait that did not happen.
 */
export const TIMER_SLACK_MS = 15;

/**
 * within settles as `promise` does, or rejects naming `what` once `timeoutMs` has passed: an event
 * that never comes fails the test with a message instead of hanging it until the runner's timeout.
 * Like `until`'s, the deadline bounds a hang; it is not a performance assertion.
 */
export async function within<T>(what: string, timeoutMs: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

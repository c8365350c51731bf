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

/**
 * BROKER_GRACE is how long (ms) a shutdown step waits on a broker that does not answer (down,
 * partitioned, stopped) before it goes on without it: `Worker.close` per step, a backend's `close`.
 */
export const BROKER_GRACE = 5_000;

/** settledWithin resolves true once `promise` settles (either way), or false after `ms`, whichever is first. */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const done = promise.then(
    () => true,
    () => true,
  );
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([done, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * answeredWithin resolves or rejects as `promise` does, or rejects with `late()` after `ms`: the
 * call goes on in the background, its outcome ignored.
 */
export async function answeredWithin<T>(promise: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  promise.catch(() => {});
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

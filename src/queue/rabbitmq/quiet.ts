/**
 * deliveryWithin resolves true as soon as `listen`'s callback fires, or false once `quietMs` passed
 * without it. The verdict of silence waits for one setImmediate: after the event loop was blocked
 * past `quietMs` (a busy handler, a loaded machine), Node runs due timers before it polls sockets,
 * so a delivery already read into the socket's buffer would be taken for a queue run dry. A
 * setImmediate runs after that poll, when such a delivery has reached `listen`'s callback.
 *
 * `listen` registers the callback and returns what unregisters it.
 */
export function deliveryWithin(
  listen: (onDelivery: () => void) => () => void,
  quietMs: number,
): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const settle = (arrived: boolean) => {
      // Once only: a late second call would unregister the caller's next listener.
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      unlisten();
      resolve(arrived);
    };
    const unlisten = listen(() => settle(true));
    timer = setTimeout(() => setImmediate(() => settle(false)), quietMs);
  });
}

/** What {@link quiesceChannel} reads of one consumer channel. */
export interface QuiescedChannel {
  /** Resolves once the channel applied the acks sent before (a round trip; see settleBarrier). */
  barrier: () => Promise<void>;
  /** The prefetch window is full: the broker sends the channel nothing more. */
  windowFull: () => boolean;
  /** Registers the callback each delivery to the channel calls; returns what unregisters it. */
  listen: (onDelivery: () => void) => () => void;
}

/**
 * quiesceChannel waits until no delivery can be on its way to a channel: its window is full, or
 * none came for `quietMs` after the barrier (the queue ran dry); at most `waitMs` in all (see the
 * consumer's stop()). The `waitMs` deadline is timed on the monotonic clock: on Date.now, a step
 * forward of the system clock during the wait (NTP, a VM resumed, `date -s`) ended it at once, the
 * deliveries on their way were not waited for, and the broker returned them counted as a stall.
 */
export async function quiesceChannel(
  channel: QuiescedChannel,
  waitMs: number,
  quietMs: number,
): Promise<void> {
  const deadline = performance.now() + waitMs;
  await channel.barrier().catch(() => {});
  while (!channel.windowFull() && performance.now() < deadline) {
    if (!(await deliveryWithin(channel.listen, quietMs))) return;
  }
}

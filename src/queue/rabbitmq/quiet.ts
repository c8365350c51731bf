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

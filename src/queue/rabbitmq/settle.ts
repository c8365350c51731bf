/**
 * settleBarrier turns AMQP's fire-and-forget acks into confirmed ones. AMQP 0-9-1 never answers a
 * `basic.ack`: one written just before its connection dies (a worker killed, the broker stopping)
 * may never be applied, and the job comes back although the worker saw `ack()` return. The broker's
 * channel handles methods in order, so the reply to any round trip sent after the ack on the same
 * channel proves the channel processed the ack and passed the settle on to the queue, ahead of
 * the notice of this channel's death: from then on a crash of this worker cannot bring the job
 * back. The returned function resolves once a round trip that started after the call has been
 * answered, and rejects if that round trip fails (the acks before it are then unconfirmed). It
 * holds for a quorum queue only while the channel's settles in flight stay under the broker's
 * command limit, past which the channel keeps them unsent: see LANE_PREFETCH_MAX. Acks
 * written while a round trip is out share the next one: at most one is out per channel.
 */
export function settleBarrier(roundTrip: () => Promise<unknown>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  const start = (): Promise<void> => {
    let trip: Promise<void>;
    try {
      trip = roundTrip().then(() => undefined);
    } catch (error) {
      trip = Promise.reject(error);
    }
    running = trip;
    const clear = () => {
      if (running === trip) running = undefined;
    };
    trip.then(clear, clear);
    return trip;
  };
  return () => {
    if (!running) return start();
    // The round trip out now may have been sent before this caller's ack: wait for the one after.
    next ??= running
      .catch(() => {})
      .then(() => {
        next = undefined;
        return running ?? start();
      });
    return next;
  };
}

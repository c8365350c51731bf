/**
 * The command timeout of a connection the cache owns, without a timer per command. ioredis's own
 * `commandTimeout` arms a timer for every command (and deletes a property of the command object,
 * which slows every command after it); on the Redis-tier hit path that cost as much as the rest of
 * the cache. Replies on one connection come back in the order the commands went out, so the n-th
 * reply answers the n-th command: two counters tell which commands are still unanswered, and a
 * snapshot of `sent` every tick tells how long ago they were sent.
 */

/** StallWatch decides, tick by tick, whether a command has waited longer than `ticks` ticks. */
export class StallWatch {
  /** Commands written to the connection. */
  sent = 0;
  /** Commands answered (or failed, as all in flight do when the connection closes). */
  settled = 0;
  readonly #snapshots: number[];
  #next = 0;

  /** `ticks` is how many ticks make the timeout (the watch is checked once per tick). */
  constructor(ticks: number) {
    if (!Number.isInteger(ticks) || ticks < 1)
      throw new RangeError(`ticks must be an integer >= 1, got ${ticks}`);
    this.#snapshots = new Array<number>(ticks).fill(0);
  }

  /**
   * tick records how many commands have gone out by now, and returns true when one that had gone
   * out `ticks` ticks ago is still unanswered: the connection is stuck.
   */
  tick(): boolean {
    const sentThen = this.#snapshots[this.#next]!;
    this.#snapshots[this.#next] = this.sent;
    this.#next = (this.#next + 1) % this.#snapshots.length;
    return this.settled < sentThen;
  }

  /** forget drops the snapshots, so a stall already acted on is not reported again. */
  forget(): void {
    this.#snapshots.fill(this.settled);
  }
}

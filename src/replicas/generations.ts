/**
 * PoolGenerations tells pooled connections opened before a target's last drain from those opened
 * after it. A pool keeps its connections for as long as they work: after the primary's address moves
 * (a DNS name or virtual IP given to the new primary while the old one stays up, demoted), every idle
 * connection still leads to the old server, and a write taking one was refused there (1290, 25006)
 * or, through a user read_only does not bind (MariaDB SUPER / READ_ONLY ADMIN), committed there:
 * split brain. The pools are the caller's and their idle lists are private, so nothing is closed
 * behind their back: a connection of an older generation is dropped when the router next checks it
 * out, and another is taken (PgBouncer closes a server connection of a host whose address changed
 * when it is released, for the same reason).
 */
export class PoolGenerations<C extends object> {
  readonly #current = new Map<string, number>();
  readonly #born = new WeakMap<C, number>();

  /** opened stamps a connection `target`'s pool has just opened with the current generation. */
  opened(target: string, connection: C): void {
    this.#born.set(connection, this.#current.get(target) ?? 0);
  }

  /** drain makes every connection `target`'s pool opened so far stale. */
  drain(target: string): void {
    this.#current.set(target, (this.#current.get(target) ?? 0) + 1);
  }

  /** drained: `target` has been drained at least once, so its pool may hold stale connections. */
  drained(target: string): boolean {
    return (this.#current.get(target) ?? 0) > 0;
  }

  /**
   * stale: `connection` was opened before `target`'s last drain. One never stamped was opened before
   * the router watched the pool: generation 0.
   */
  stale(target: string, connection: C): boolean {
    return (this.#born.get(connection) ?? 0) < (this.#current.get(target) ?? 0);
  }
}

/**
 * checkoutCurrent checks a connection out with `checkout`, dropping (`discard`) each one that is
 * `stale` and taking the next: a pool opens a new one once its old ones are gone, so this ends.
 */
export async function checkoutCurrent<C>(
  checkout: () => Promise<C>,
  stale: (connection: C) => boolean,
  discard: (connection: C) => void,
): Promise<C> {
  for (;;) {
    const connection = await checkout();
    if (!stale(connection)) return connection;
    discard(connection);
  }
}

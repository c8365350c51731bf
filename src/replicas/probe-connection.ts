import { withTimeout } from './driver.js';

/** ProbeLink is how a driver opens, uses and drops one connection of its own to a server. */
export interface ProbeLink<C> {
  /** Creates a connection object; connecting may already be under way. */
  create(): C;
  /** Resolves once `connection` can take queries. */
  connect(connection: C): Promise<void>;
  /** Drops `connection` at once, without waiting for the server: it may be frozen. */
  destroy(connection: C): void;
}

/**
 * ProbeConnection runs the probe's queries on one connection of its own, outside the caller's pool.
 * Through the pool, a probe waited behind the reads whenever every pooled connection was busy (slow
 * reports on a replica are its normal load), timed out, and a healthy replica was marked unreachable:
 * its reads went to the primary and those queued in the pool ran twice. Its own connection still goes
 * unanswered when the server is frozen or gone, which is what the timeout is for.
 */
export class ProbeConnection<C> {
  readonly #link: ProbeLink<C>;
  #current: { connection: C; ready: Promise<void> } | null = null;

  constructor(link: ProbeLink<C>) {
    this.#link = link;
  }

  /** run runs `fn` on the connection (opened first if need be), failing after `timeout` ms. */
  async run<T>(fn: (connection: C) => Promise<T>, timeout: number, what: string): Promise<T> {
    let current = this.#current;
    if (current === null) {
      const connection = this.#link.create();
      const ready = this.#link.connect(connection);
      // A connect that fails after run() gave up on it is already dealt with (dropped below).
      ready.catch(() => {});
      current = { connection, ready };
      this.#current = current;
    }
    const { connection, ready } = current;
    try {
      return await withTimeout(
        ready.then(() => fn(connection)),
        timeout,
        what,
      );
    } catch (error) {
      // After a failure or a timeout the connection may sit behind an unanswered query: never reuse it.
      if (this.#current === current) this.#current = null;
      this.#link.destroy(connection);
      throw error;
    }
  }

  /** close drops the connection, if any. */
  close(): void {
    if (this.#current !== null) this.#link.destroy(this.#current.connection);
    this.#current = null;
  }
}

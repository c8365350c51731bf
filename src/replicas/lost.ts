import type { DatabaseError } from './errors.js';

/**
 * LostSignal lets the reads waiting on one replica stop waiting once the router finds it unreachable.
 * A frozen server (SIGSTOP, a stalled VM) or a network partition never answers, and its TCP
 * connections can take minutes to fail: without this, reads already sent there would hang that long
 * while the primary could serve them.
 */
export class LostSignal {
  readonly #waiting = new Set<(error: DatabaseError) => void>();

  /** race settles like `work`, unless `lose` is called first; then it rejects with lose's error. */
  race<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#waiting.add(reject);
      // One entry per pending read, removed when it settles: a healthy replica accumulates nothing.
      work.then(resolve, reject).finally(() => this.#waiting.delete(reject));
    });
  }

  /** lose rejects every pending race; reads that `race` later wait for the next loss. */
  lose(error: DatabaseError): void {
    for (const reject of this.#waiting) reject(error);
    this.#waiting.clear();
  }

  /** pending is how many reads are waiting. */
  get pending(): number {
    return this.#waiting.size;
  }
}

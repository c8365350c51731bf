import { backoffDelay } from './backoff.js';
import { QueueError } from './errors.js';
import type { BackendContext } from './types.js';

/** PullLoopOptions is what a pull-based consumer gives its loop. */
export interface PullLoopOptions {
  /** Names the consumer in the errors it reports, e.g. `redis consumer orders`. */
  label: string;
  context: BackendContext;
  /** How many more jobs the worker can take now (ConsumeOptions.freeSlots). */
  freeSlots(): number;
}

/**
 * PullLoop is the consumer loop the pull-based backends (Redis Streams, NATS JetStream) share. Until
 * stopped it waits while the worker has no free slot, asks the backend to pull at most that many
 * jobs, and after a failed pull reports it (QUEUE_BACKEND) and backs off on the reconnect schedule,
 * longer with each failure in a row. What a pull is, and what counts as the broker answering, is the
 * backend's.
 */
export class PullLoop {
  readonly #options: PullLoopOptions;
  #stopped = false;
  #wakeUp: (() => void) | undefined;
  /** Ends the backoff after a failed pull; stop() only (a freed slot is no reason to pull sooner). */
  #cutBackoff: (() => void) | undefined;
  #failures = 0;

  constructor(options: PullLoopOptions) {
    this.#options = options;
  }

  /** stopped is true once stop() was called; a pull in progress checks it to hand back late jobs. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** wake resumes a loop waiting for a free slot (the worker finished a job). */
  wake(): void {
    this.#wakeUp?.();
  }

  /** stop ends the loop once the pull in progress returns; the backend ends a blocking pull itself. */
  stop(): void {
    this.#stopped = true;
    this.#wakeUp?.();
    this.#cutBackoff?.();
  }

  /** succeeded ends a run of failures: the broker answered, so the next failure backs off from the start. */
  succeeded(): void {
    this.#failures = 0;
  }

  /**
   * run pulls with `pull(free)` until stopped. `recover` runs after a failure is reported and before
   * the backoff, for a backend that can repair the cause (a consumer group deleted under it).
   */
  async run(
    pull: (free: number) => Promise<void>,
    recover?: (error: unknown) => Promise<void>,
  ): Promise<void> {
    const { label, context } = this.#options;
    while (!this.#stopped) {
      const free = this.#options.freeSlots();
      if (free <= 0) {
        await new Promise<void>((resolve) => {
          this.#wakeUp = resolve;
        });
        this.#wakeUp = undefined;
        continue;
      }
      try {
        await pull(free);
      } catch (error) {
        if (this.#stopped) break;
        this.#failures++;
        context.onError(
          new QueueError('QUEUE_BACKEND', `${label}: ${(error as Error).message}`, {
            cause: error,
          }),
        );
        await recover?.(error);
        if (this.#stopped) break;
        // stop() ends the backoff too: it ran out first, and the reconnect schedule waits up to 10 s,
        // so a worker closed while its pulls failed (a broker restarting) spent that in close(),
        // past BROKER_GRACE, and was reported as not stopping.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, backoffDelay(this.#failures, context.reconnect, context.random));
          this.#cutBackoff = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#cutBackoff = undefined;
      }
    }
  }
}

import type { RetryBudgetConfig } from '../config/types.js';

/** RETRY_BUDGET_WINDOW_SECONDS is the window the retry budget counts over. */
export const RETRY_BUDGET_WINDOW_SECONDS = 10;

/**
 * retryBudgetAllows says whether one more retry fits: retries in the window stay below
 * `minPerSecond × window + percent% of requests` in the window (Finagle's RetryBudget).
 */
export function retryBudgetAllows(requests: number, retries: number, config: RetryBudgetConfig): boolean {
  return retries < config.minPerSecond * RETRY_BUDGET_WINDOW_SECONDS + (requests * config.percent) / 100;
}

/**
 * RetryBudget counts requests and retries of one group over a sliding window of one-second
 * buckets. The caller passes the time, so it is deterministic under test.
 */
export class RetryBudget {
  readonly #config: RetryBudgetConfig;
  readonly #requests = new Float64Array(RETRY_BUDGET_WINDOW_SECONDS);
  readonly #retries = new Float64Array(RETRY_BUDGET_WINDOW_SECONDS);
  #second = -1;
  #requestSum = 0;
  #retrySum = 0;

  constructor(config: RetryBudgetConfig) {
    this.#config = config;
  }

  /** request counts one request at `now` (ms). */
  request(now: number): void {
    this.#requests[this.#advance(now)]!++;
    this.#requestSum++;
  }

  /**
   * allows says whether one more retry fits at `now`, spending nothing: the retry is spent (`spend`)
   * once it has a backend to go to.
   */
  allows(now: number): boolean {
    this.#advance(now);
    return retryBudgetAllows(this.#requestSum, this.#retrySum, this.#config);
  }

  /** spend counts one retry made at `now`. */
  spend(now: number): void {
    this.#retries[this.#advance(now)]!++;
    this.#retrySum++;
  }

  /** tryRetry spends one retry at `now` if the budget allows and says whether it did. */
  tryRetry(now: number): boolean {
    if (!this.allows(now)) return false;
    this.spend(now);
    return true;
  }

  #advance(now: number): number {
    const second = Math.floor(now / 1000);
    const index =
      ((second % RETRY_BUDGET_WINDOW_SECONDS) + RETRY_BUDGET_WINDOW_SECONDS) % RETRY_BUDGET_WINDOW_SECONDS;
    if (second === this.#second) return index;
    // Clear the buckets of the seconds that passed since the last call (all of them after a lull).
    const gap =
      this.#second < 0
        ? RETRY_BUDGET_WINDOW_SECONDS
        : Math.min(second - this.#second, RETRY_BUDGET_WINDOW_SECONDS);
    for (let i = 0; i < gap; i++) {
      const j =
        (((second - i) % RETRY_BUDGET_WINDOW_SECONDS) + RETRY_BUDGET_WINDOW_SECONDS) %
        RETRY_BUDGET_WINDOW_SECONDS;
      this.#requestSum -= this.#requests[j]!;
      this.#retrySum -= this.#retries[j]!;
      this.#requests[j] = 0;
      this.#retries[j] = 0;
    }
    this.#second = second;
    return index;
  }
}

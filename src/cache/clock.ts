/** Clock is where the cache reads the time; inject a fake one in tests. */
export interface Clock {
  /** Milliseconds since the epoch, as `Date.now()`. */
  now(): number;
}

/** Random returns a number in [0, 1), as `Math.random`; inject a fixed one in tests. */
export type Random = () => number;

/** systemClock is the real wall clock. Entries carry absolute times so instances can share them. */
export const systemClock: Clock = { now: () => Date.now() };

/**
 * AppendLog is a persistent append-only list: a state holds `{items, length}` and sees only its
 * first `length` items. Appending to the newest state pushes in place (O(1), which keeps a month
 * of simulated decisions fast); appending to an older state copies, so every state stays immutable
 * as observed through its own length.
 */
export interface AppendLog<T> {
  readonly items: T[];
  readonly length: number;
}

/** emptyLog is a fresh log. */
export function emptyLog<T>(): AppendLog<T> {
  return { items: [], length: 0 };
}

/** appendToLog returns a log with `item` after the visible items, sharing storage when it can. */
export function appendToLog<T>(log: AppendLog<T>, item: T): AppendLog<T> {
  const items = log.items.length === log.length ? log.items : log.items.slice(0, log.length);
  items.push(item);
  return { items, length: log.length + 1 };
}

/** lastOf is the last visible item. */
export function lastOf<T>(log: AppendLog<T>): T | undefined {
  return log.length === 0 ? undefined : log.items[log.length - 1];
}

/**
 * How long dead letters are kept. Pure: each backend turns the one setting into its broker's own
 * limits (RabbitMQ queue arguments, JetStream stream limits, Redis stream trims).
 */

/** DeadLetterRetention bounds a queue's dead-letter queue; the oldest letters go first. */
export interface DeadLetterRetention {
  /** Most dead letters kept; `Infinity` for no bound. @defaultValue 10000 */
  count: number;
  /** ms a dead letter is kept after it was dead-lettered; `Infinity` for no bound. @defaultValue 604800000 (7 days) */
  age: number;
}

/**
 * DEFAULT_DEAD_LETTER_RETENTION keeps the newest 10,000 dead letters, none older than 7 days.
 * BullMQ keeps failed jobs forever by default (`removeOnFail: false`), which is what made ours
 * grow until someone purged them. A week outlasts a weekend and an on-call handover, time for a
 * person to look and `retry()`; 10,000 letters (each error cut to 4,000 characters) stay in the
 * tens of MB on any broker, while a burst of failures past that keeps its newest, most telling ones.
 */
export const DEFAULT_DEAD_LETTER_RETENTION: DeadLetterRetention = {
  count: 10_000,
  age: 7 * 24 * 3600 * 1000,
};

/** MAX_RETENTION_AGE is the longest finite age: RabbitMQ's `x-message-ttl` is an unsigned 32-bit ms count. */
export const MAX_RETENTION_AGE = 2 ** 32 - 1;

/** retentionProblem says what is wrong with a retention, or undefined when every backend can apply it. */
export function retentionProblem(r: DeadLetterRetention): string | undefined {
  const countOk = r.count === Number.POSITIVE_INFINITY || (Number.isInteger(r.count) && r.count >= 1);
  if (!countOk) return 'count must be an integer >= 1, or Infinity';
  const ageOk =
    r.age === Number.POSITIVE_INFINITY ||
    (Number.isInteger(r.age) && r.age >= 1 && r.age <= MAX_RETENTION_AGE);
  if (!ageOk) return `age must be an integer number of ms from 1 to ${MAX_RETENTION_AGE}, or Infinity`;
  return undefined;
}

/**
 * rabbitDeadLetterArguments are the DLQ's limits as RabbitMQ queue arguments. `drop-head` said
 * outright: with `reject-publish` (which a quorum queue also offers, and a policy could set) a
 * full DLQ would nack the dead letter, and the job would stay on the queue instead.
 */
export function rabbitDeadLetterArguments(r: DeadLetterRetention): Record<string, unknown> {
  return {
    ...(Number.isFinite(r.count) ? { 'x-max-length': r.count } : {}),
    ...(Number.isFinite(r.age) ? { 'x-message-ttl': r.age } : {}),
    'x-overflow': 'drop-head',
  };
}

/**
 * natsDeadLetterLimits are the DLQ stream's limits: JetStream's -1 / 0 mean no bound, and the
 * stream refuses a duplicate window longer than its MaxAge, so the window is cut to the age.
 */
export function natsDeadLetterLimits(
  r: DeadLetterRetention,
  duplicateWindow: number,
): { maxMsgs: number; maxAge: number; duplicateWindow: number } {
  return {
    maxMsgs: Number.isFinite(r.count) ? r.count : -1,
    maxAge: Number.isFinite(r.age) ? r.age : 0,
    duplicateWindow: Math.min(duplicateWindow, r.age),
  };
}

/** redisDeadLetterTrim is the count and age the Redis scripts trim the DLQ stream to (0 = no bound). */
export function redisDeadLetterTrim(r: DeadLetterRetention): [count: number, age: number] {
  return [Number.isFinite(r.count) ? r.count : 0, Number.isFinite(r.age) ? r.age : 0];
}

/**
 * How long dead letters are kept. Pure: each backend turns the one setting into its broker's own
 * limits (RabbitMQ queue arguments, JetStream stream limits, Redis stream trims).
 */

/** DeadLetterRetention bounds a queue's dead-letter queue; the oldest letters go first. */
export interface DeadLetterRetention {
  /** Most dead letters kept; `Infinity` for no bound. @defaultValue Infinity */
  count: number;
  /** ms a dead letter is kept after it was dead-lettered; `Infinity` for no bound. @defaultValue Infinity */
  age: number;
}

/**
 * DEFAULT_DEAD_LETTER_RETENTION keeps every dead letter, as BullMQ (`removeOnFail: false`),
 * RabbitMQ and JetStream do by default: a dead letter is a job nobody ran to completion, and
 * dropping it is the user's call, not a default's. Unbounded also leaves a RabbitMQ DLQ declared
 * before retention existed as it was (a bound would be refused there, 406, on every upgrade).
 */
export const DEFAULT_DEAD_LETTER_RETENTION: DeadLetterRetention = {
  count: Number.POSITIVE_INFINITY,
  age: Number.POSITIVE_INFINITY,
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
  // Unbounded: no arguments at all, so a DLQ declared without them is declared the same again.
  if (!Number.isFinite(r.count) && !Number.isFinite(r.age)) return {};
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

/**
 * Pure rules for jobs whose worker died while running them (a stall): how many a job may survive,
 * and how many deliveries a broker must still make so the job is dead-lettered instead of lost.
 */

/** STALL_LIMIT_MESSAGE is the dead-letter error of a job that stalled too often (BullMQ's wording). */
export const STALL_LIMIT_MESSAGE = 'job stalled more than allowable limit';

/** StallDecision says whether a delivery may run its handler, and why not. */
export type StallDecision =
  | { action: 'run'; reason: 'WithinStallLimit' }
  | { action: 'dead-letter'; reason: 'StallLimit'; message: string };

/**
 * decideStall is the fate of a delivery of a job that stalled `stalls` times before it, when
 * `maxStalls` stalls are allowed: run the handler, or dead-letter the job without running it, with
 * a message naming the count and the delivery (`attempt`).
 */
export function decideStall(stalls: number, maxStalls: number, attempt: number): StallDecision {
  if (stalls <= maxStalls) return { action: 'run', reason: 'WithinStallLimit' };
  return {
    action: 'dead-letter',
    reason: 'StallLimit',
    message: `${STALL_LIMIT_MESSAGE}: stalled ${stalls} times (maxStalls ${maxStalls}), delivery ${attempt}`,
  };
}

/**
 * natsMaxDeliver is the JetStream MaxDeliver a consumer needs so a job is always delivered once more
 * after its last allowed attempt and stall, to be dead-lettered there: `maxAttempts + maxStalls`
 * deliveries may run, the next one dead-letters, one more covers a delayed job's waiting delivery,
 * and `margin` more are slack (a worker with a larger `retries` or `maxStalls` sharing the consumer).
 */
export function natsMaxDeliver(maxAttempts: number, maxStalls: number, margin: number): number {
  return maxAttempts + maxStalls + 2 + margin;
}

/** NatsDeliveryCounts is what a JetStream delivery of a job counts as (`natsDeliveryCounts`). */
export interface NatsDeliveryCounts {
  /** 1-based attempt this delivery is, stalls included. */
  attempt: number;
  /** Stalls the job is known to have had: a lower bound on NATS. */
  stalls: number;
}

/**
 * natsDeliveryCounts turns a JetStream delivery into an attempt and a stall count. `deliveryCount`
 * counts every delivery of this stream message: stalls (AckWait running out), retries that could
 * not be published anew (naks), plus the one a delayed job spends waiting (`waited`). Hand-backs and
 * retries publish a new message carrying `envelopeAttempt` and `envelopeStalls`, so they cost
 * nothing here. A retry is an attempt too, so only the attempts beyond `maxAttempts` are certainly stalls (at least `envelopeStalls`).
 */
export function natsDeliveryCounts(
  envelopeAttempt: number,
  envelopeStalls: number,
  deliveryCount: number,
  waited: boolean,
  maxAttempts: number,
): NatsDeliveryCounts {
  const attempt = Math.max(1, envelopeAttempt - 1 + deliveryCount - (waited ? 1 : 0));
  return { attempt, stalls: Math.max(envelopeStalls, attempt - maxAttempts, 0) };
}

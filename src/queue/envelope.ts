import type { JobEnvelope } from './types.js';

/**
 * DecodedEnvelope is a message read from the broker: its job, or, when the message is not one this
 * library wrote (another producer publishing to the queue's queue/stream/subject, a corrupted
 * body), a stand-in job carrying the message as payload and the `problem` that names what is wrong.
 */
export interface DecodedEnvelope {
  envelope: JobEnvelope;
  /** Why the message is not a job; absent for a well-formed one. */
  problem?: string;
}

/**
 * decodeEnvelope parses a message body into a job envelope, checking the fields the worker counts
 * on. It never throws: a message that is not a job comes back as a stand-in (id `fallbackId`,
 * attempt 1, payload the parsed JSON or else the text) with a `problem`, for the worker to
 * dead-letter unrun. Thrown from a broker callback, the parse error had left the message unsettled:
 * on RabbitMQ it held a prefetch slot for good (a worker with concurrency 1 took no job again), on
 * Redis and NATS the rest of its batch waited for a stall claim.
 */
export function decodeEnvelope(text: string | undefined, queue: string, fallbackId: string): DecodedEnvelope {
  const standIn = (payload: unknown, problem: string): DecodedEnvelope => ({
    envelope: { id: fallbackId, queue, payload, attempt: 1, publishedAt: 0 },
    problem,
  });
  if (text === undefined) return standIn(undefined, 'no job in the message');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return standIn(text.slice(0, 64 * 1024), `not JSON (${(error as Error).message})`);
  }
  const problem = envelopeProblem(parsed);
  return problem === undefined ? { envelope: parsed as JobEnvelope } : standIn(parsed, problem);
}

/** envelopeProblem names the first field of `value` that a job envelope cannot have, if any. */
export function envelopeProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'not a job envelope (a JSON object with id, attempt, publishedAt)';
  const v = value as Record<string, unknown>;
  if (typeof v.id !== 'string' || v.id === '') return 'not a job envelope: "id" must be a non-empty string';
  if (!Number.isInteger(v.attempt) || (v.attempt as number) < 1)
    return 'not a job envelope: "attempt" must be an integer >= 1';
  if (typeof v.publishedAt !== 'number') return 'not a job envelope: "publishedAt" must be a number';
  if (v.stalls !== undefined && (!Number.isInteger(v.stalls) || (v.stalls as number) < 0))
    return 'not a job envelope: "stalls" must be an integer >= 0';
  return undefined;
}

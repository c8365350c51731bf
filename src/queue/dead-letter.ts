import { decodeEnvelope } from './envelope.js';
import type { JobEnvelope } from './types.js';

/** DeadLetterBody is what a dead letter's stored body holds: its job, or why it holds none. */
export interface DeadLetterBody {
  /** The job; for a body that is not one, a stand-in (id `ref`, attempt 1) whose payload is the body. */
  job: JobEnvelope;
  /** Set when the body is not a job this library wrote: says why (see `DeadLetter.notJob`). */
  notJob?: string;
}

/**
 * readDeadLetterBody decodes a dead letter's body. It never throws: a body that is not a job (another
 * producer writing to the dead-letter queue, a message the broker dead-lettered itself) comes back
 * as a stand-in holding the body (parsed JSON, else the text) with `notJob` saying why. Before, the
 * first such letter's `JSON.parse` error failed `list()` and `retry()` for the whole queue, so no
 * letter behind it could be read or re-queued (RabbitMQ, NATS; Redis for a `job` field not JSON).
 */
export function readDeadLetterBody(text: string | undefined, queue: string, ref: string): DeadLetterBody {
  const { envelope, problem } = decodeEnvelope(text, queue, ref);
  return problem === undefined ? { job: envelope } : { job: envelope, notJob: problem };
}

/**
 * requeuable is whether `dlq.retry()` re-queues a letter: not one whose body is not a job. Queued,
 * it would only come back as a `Malformed` dead letter, unrun, with the body rewritten as the
 * stand-in's payload; left, it stays listed as it was until `purge()`.
 */
export function requeuable(letter: { notJob?: string }): boolean {
  return letter.notJob === undefined;
}

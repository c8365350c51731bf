import type { Options } from 'amqplib';
import type { JobEnvelope } from '../types.js';
import type { QueueType } from './topology.js';

/**
 * jobProperties are the AMQP properties of every message carrying `job`: its id, and on classic
 * queues (the ones with `x-max-priority`) its priority. Every publish of a job goes through here,
 * first publish, retry, hand-back, stall recount, dead letter and dead-letter retry alike: only the
 * first publish and the classic stall recount set the priority before, so a retried, handed-back
 * or dead-letter-retried job of priority 9 queued as priority 0, behind every job of a higher one.
 */
export function jobProperties(job: JobEnvelope, queueType: QueueType, headers?: object): Options.Publish {
  return {
    messageId: job.id,
    contentType: 'application/json',
    ...(queueType === 'classic' && job.priority !== undefined ? { priority: job.priority } : {}),
    ...(headers === undefined ? {} : { headers }),
  };
}

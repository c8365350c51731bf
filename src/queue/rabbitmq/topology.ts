/**
 * Names and arguments of the RabbitMQ objects behind one queue. Pure: the backend asserts them.
 *
 *   publish ──► <prefix>.<queue>  (durable quorum; DLX = <prefix>.dlx)
 *   retry/delay ──► <prefix>.<queue>.delay.<ms>  (TTL = ms, dead-letters back into the queue)
 *   last failure ──► exchange <prefix>.dlx ──► <prefix>.<queue>.dlq
 */

/** QueueType is the RabbitMQ queue type of the main and dead-letter queues. */
export type QueueType = 'quorum' | 'classic';

/** RabbitNames are the object names of one queue. */
export interface RabbitNames {
  queue: string;
  dlq: string;
  dlx: string;
}

/** rabbitNames names the objects of `queue`. */
export function rabbitNames(prefix: string, queue: string): RabbitNames {
  return { queue: `${prefix}.${queue}`, dlq: `${prefix}.${queue}.dlq`, dlx: `${prefix}.dlx` };
}

/** mainQueueArguments are the `x-` arguments of the main queue. */
export function mainQueueArguments(names: RabbitNames, type: QueueType): Record<string, unknown> {
  return {
    'x-queue-type': type,
    'x-dead-letter-exchange': names.dlx,
    'x-dead-letter-routing-key': names.queue,
    // Quorum queues before RabbitMQ 4 ignore priorities; classic ones honour up to this.
    ...(type === 'classic' ? { 'x-max-priority': 10 } : {}),
  };
}

/**
 * delayBucket rounds a delay up to two significant digits, so jittered retry delays share a few
 * TTL queues instead of creating one per millisecond value.
 */
export function delayBucket(ms: number): number {
  if (ms <= 0) return 0;
  const magnitude = 10 ** Math.max(0, Math.floor(Math.log10(ms)) - 1);
  return Math.ceil(ms / magnitude) * magnitude;
}

/**
 * DELAY_QUEUE_IDLE is how long (ms) a delay queue outlives its delay once nobody declares it again
 * (its `x-expires` is the delay plus this).
 */
export const DELAY_QUEUE_IDLE = 60_000;

/**
 * delayQueue names the TTL queue holding jobs for `bucket` ms and gives its arguments. A non-default
 * `idle` is part of the name: RabbitMQ refuses to declare a queue again with another `x-expires`.
 */
export function delayQueue(
  names: RabbitNames,
  bucket: number,
  idle: number = DELAY_QUEUE_IDLE,
): { name: string; arguments: Record<string, unknown> } {
  return {
    name: `${names.queue}.delay.${bucket}${idle === DELAY_QUEUE_IDLE ? '' : `.i${idle}`}`,
    arguments: {
      'x-queue-type': 'classic',
      'x-message-ttl': bucket,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': names.queue,
      // The broker moves an expired job itself: if the main queue is gone by then, nothing returns
      // it to a publisher and RabbitMQ drops it (see the README on unroutable publishes).
      // Unused delay queues disappear on their own once their last job has moved on. "Unused" to
      // RabbitMQ means not declared (nor consumed from) for that long: publishing does not count, so
      // publishers must declare it again while they use it (delayQueueRedeclare).
      'x-expires': bucket + idle,
    },
  };
}

/**
 * delayQueueRedeclare says whether a delay queue last declared at `declaredAt` must be declared
 * again before a publish at `now`. Its lease then runs to `declaredAt + bucket + idle`, while
 * declaring every `idle / 2` keeps each job published into it at least `bucket + idle / 2` before
 * the deadline: time enough for its TTL to run out and move it on. Without this a long-running
 * producer's queue expired `bucket + idle` after its first declaration, with jobs in it, and every
 * later publish to it was confirmed into nowhere (unroutable, dropped).
 */
export function delayQueueRedeclare(declaredAt: number | undefined, now: number, idle: number): boolean {
  return declaredAt === undefined || now - declaredAt >= idle / 2;
}

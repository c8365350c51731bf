/**
 * Names and arguments of the RabbitMQ objects behind one queue. Pure: the backend asserts them.
 *
 *   publish ──► <prefix>.<queue>  (durable quorum; DLX = <prefix>.dlx)
 *   retry/delay ──► <prefix>.<queue>.delayed.<ms>  (TTL = ms)
 *       ──(due: dead-lettered)──► exchange <prefix>.due ──► <prefix>.<queue>
 *                                   └─ no binding (queue deleted): alternate exchange <prefix>.parked
 *                                        ──► <prefix>.<queue>.parked, moved back once the queue is declared again
 *   last failure ──► exchange <prefix>.dlx ──► <prefix>.<queue>.dlq
 */

/** QueueType is the RabbitMQ queue type of the main and dead-letter queues. */
export type QueueType = 'quorum' | 'classic';

/** RabbitNames are the object names of one queue. */
export interface RabbitNames {
  queue: string;
  dlq: string;
  dlx: string;
  /** Exchange (direct, shared by the prefix) that due jobs leave their delay queue through. */
  due: string;
  /** Alternate exchange of `due`: takes a due job whose queue has no binding (it was deleted). */
  parkedExchange: string;
  /** Queue holding this queue's due jobs that found it deleted, until it is declared again. */
  parked: string;
}

/** rabbitNames names the objects of `queue`. */
export function rabbitNames(prefix: string, queue: string): RabbitNames {
  return {
    queue: `${prefix}.${queue}`,
    dlq: `${prefix}.${queue}.dlq`,
    dlx: `${prefix}.dlx`,
    due: `${prefix}.due`,
    parkedExchange: `${prefix}.parked`,
    parked: `${prefix}.${queue}.parked`,
  };
}

/**
 * dueExchangeArguments are the arguments of the `due` exchange. A delay queue's expired job is
 * dead-lettered by the broker, with no publisher to return it to: routed by the default exchange
 * to a queue that was deleted meanwhile (`destroy` in another process, an operator), RabbitMQ
 * dropped it. Through `due`, whose alternate exchange takes whatever no binding does, it is kept.
 */
export function dueExchangeArguments(names: RabbitNames): Record<string, unknown> {
  return { 'alternate-exchange': names.parkedExchange };
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

/** delayQueuePrefix begins the name of every delay queue of a queue. */
export function delayQueuePrefix(names: RabbitNames): string {
  return `${names.queue}.delayed.`;
}

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
    // `.delayed.`, not the `.delay.` of versions that dead-lettered through the default exchange:
    // RabbitMQ refuses to declare a queue again with other arguments. Those old queues still move
    // their jobs into the queue, and expire once unused.
    name: `${delayQueuePrefix(names)}${bucket}${idle === DELAY_QUEUE_IDLE ? '' : `.i${idle}`}`,
    arguments: {
      'x-queue-type': 'classic',
      'x-message-ttl': bucket,
      // The broker moves an expired job itself, with no publisher to return it to: through `due`
      // (see dueExchangeArguments) a job whose queue was deleted meanwhile is parked, not dropped.
      'x-dead-letter-exchange': names.due,
      'x-dead-letter-routing-key': names.queue,
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

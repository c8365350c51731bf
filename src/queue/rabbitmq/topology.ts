/**
 * Names and arguments of the RabbitMQ objects behind one queue. Pure: the backend asserts them.
 *
 *   publish ──► <prefix>.<queue>  (durable quorum; DLX = <prefix>.dlx)
 *   retry/delay ──► <prefix>.<queue>.delayed.<ms>  (TTL = ms; .delayed.q<ms> quorum, see delayQueueKind)
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
 * DelayQueueKind is what a delay queue is: `quorum`, whose move of a due job into the work queue is
 * at-least-once, or `classic`, whose move is at-most-once (see delayQueueKind).
 */
export type DelayQueueKind = 'quorum' | 'classic';

/**
 * delayQueueKind picks the delay queues for a broker, from its connection's server properties.
 * RabbitMQ 3.10 to 3.13: quorum, with at-least-once dead-lettering (3.10 brought it, and message
 * TTLs on quorum queues): the broker keeps a due job until its work queue confirmed it, where a
 * classic queue's dead-lettering drops a job the work queue refuses (at a `max-length` with
 * `reject-publish`, a quorum queue without its majority). Other brokers: classic. A quorum queue's
 * `x-expires` lease is not renewed by declaring it (rabbitmq-server#5894), only by a consumer
 * leaving it: renewQuorumLease does that with a consumer of no credit, an argument (`x-credit`)
 * RabbitMQ 4 no longer takes; there a consumer would be given the jobs themselves.
 */
export function delayQueueKind(product: unknown, version: unknown): DelayQueueKind {
  const parts = typeof version === 'string' ? /^(\d+)\.(\d+)\./.exec(version) : null;
  if (product !== 'RabbitMQ' || !parts) return 'classic';
  return Number(parts[1]) === 3 && Number(parts[2]) >= 10 ? 'quorum' : 'classic';
}

/**
 * DUE_KEPT is how long (ms) a quorum delay queue outlives its `idle` lease: a due job its work
 * queue refused waits in it, offered again every `dead_letter_worker_publisher_confirm_timeout`
 * (3 min by default), and goes with it if it expires first. It is in the queues' `x-expires` but
 * not their name: another value needs another name (RabbitMQ refuses a declaration with another).
 */
export const DUE_KEPT = 600_000;

/**
 * delayQueue names the TTL queue holding jobs for `bucket` ms and gives its arguments. A non-default
 * `idle` is part of the name: RabbitMQ refuses to declare a queue again with another `x-expires`.
 * So is a quorum `kind` (`.delayed.q<ms>`): RabbitMQ refuses to declare a queue again with another
 * type, and the classic ones of earlier versions, or of processes on an older broker, keep theirs.
 */
export function delayQueue(
  names: RabbitNames,
  bucket: number,
  idle: number = DELAY_QUEUE_IDLE,
  kind: DelayQueueKind = 'classic',
): { name: string; arguments: Record<string, unknown> } {
  const quorum = kind === 'quorum';
  return {
    // `.delayed.`, not the `.delay.` of versions that dead-lettered through the default exchange:
    // RabbitMQ refuses to declare a queue again with other arguments. Those old queues still move
    // their jobs into the queue, and expire once unused.
    name: `${delayQueuePrefix(names)}${quorum ? 'q' : ''}${bucket}${idle === DELAY_QUEUE_IDLE ? '' : `.i${idle}`}`,
    arguments: {
      'x-queue-type': kind,
      'x-message-ttl': bucket,
      // The broker moves an expired job itself, with no publisher to return it to: through `due`
      // (see dueExchangeArguments) a job whose queue was deleted meanwhile is parked, not dropped.
      'x-dead-letter-exchange': names.due,
      'x-dead-letter-routing-key': names.queue,
      // A quorum queue keeps a due job until the work queue confirmed it (at-least-once), which
      // RabbitMQ does only where the queue refuses publishes past a limit (none is set here).
      ...(quorum ? { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' } : {}),
      // Unused delay queues disappear on their own once their last job has moved on. "Unused" to
      // RabbitMQ means not declared (nor consumed from) for that long: publishing does not count, so
      // publishers must declare it again while they use it (delayQueueRedeclare), and renew a
      // quorum one's lease (renewQuorumLease).
      'x-expires': bucket + idle + (quorum ? DUE_KEPT : 0),
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

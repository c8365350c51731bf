import type { Redis } from 'ioredis';

/**
 * DedupStore remembers which jobs are done, so a handler running a redelivered job (the
 * at-least-once duplicate after a crash between the work and the ack) can skip it. A job is its
 * queue and its id: one store serves the workers of many queues, and a job id of one's own (an
 * order's) may name a job in each of them, so a store keys its marks by both.
 */
export interface DedupStore {
  /** True if job `id` of `queue` was marked done (and not yet expired). */
  isDone(id: string, queue: string): Promise<boolean>;
  /** markDone marks job `id` of `queue` done. */
  markDone(id: string, queue: string): Promise<void>;
}

/** RedisDedupStoreOptions configures `createRedisDedupStore`. */
export interface RedisDedupStoreOptions {
  /** Key prefix; a mark is `<prefix><queue>:<job id>`. @defaultValue 'sp:dedup:' */
  prefix?: string;
  /** How long a done mark lasts, ms; longer than any redelivery can take. @defaultValue 86400000 */
  ttl?: number;
}

/**
 * createRedisDedupStore keeps done marks as expiring Redis keys on a client the caller owns, one per
 * queue and job id (a queue name holds no `:`, so no two jobs share a key). Before, the key was the
 * job id alone: a job done in one queue had the job of the same id in any other queue skipped,
 * acked unrun (`test/queue/dedup-queues.test.ts`).
 */
export function createRedisDedupStore(redis: Redis, options: RedisDedupStoreOptions = {}): DedupStore {
  const prefix = options.prefix ?? 'sp:dedup:';
  const ttl = options.ttl ?? 86_400_000;
  return {
    async isDone(id, queue) {
      return (await redis.exists(`${prefix}${queue}:${id}`)) === 1;
    },
    async markDone(id, queue) {
      await redis.set(`${prefix}${queue}:${id}`, '1', 'PX', ttl);
    },
  };
}

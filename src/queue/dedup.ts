import type { Redis } from 'ioredis';

/**
 * DedupStore remembers which job ids are done, so a handler running a redelivered job (the
 * at-least-once duplicate after a crash between the work and the ack) can skip it.
 */
export interface DedupStore {
  /** True if `id` was marked done (and not yet expired). */
  isDone(id: string): Promise<boolean>;
  markDone(id: string): Promise<void>;
}

/** RedisDedupStoreOptions configures `createRedisDedupStore`. */
export interface RedisDedupStoreOptions {
  /** Key prefix. @defaultValue 'sp:dedup:' */
  prefix?: string;
  /** How long a done mark lasts, ms; longer than any redelivery can take. @defaultValue 86400000 */
  ttl?: number;
}

/** createRedisDedupStore keeps done marks as expiring Redis keys on a client the caller owns. */
export function createRedisDedupStore(redis: Redis, options: RedisDedupStoreOptions = {}): DedupStore {
  const prefix = options.prefix ?? 'sp:dedup:';
  const ttl = options.ttl ?? 86_400_000;
  return {
    async isDone(id) {
      return (await redis.exists(prefix + id)) === 1;
    },
    async markDone(id) {
      await redis.set(prefix + id, '1', 'PX', ttl);
    },
  };
}

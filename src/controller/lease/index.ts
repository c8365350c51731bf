import type { LeaseConfig } from '../../config/index.js';
import { PostgresLease } from './postgres.js';
import { RedisLease } from './redis.js';
import type { LeaseStore } from './types.js';

export { PostgresLease, type PostgresLeaseOptions } from './postgres.js';
export { RedisLease, type RedisLeaseOptions } from './redis.js';
export { LeaseError, type LeaseGrant, type LeaseHolder, type LeaseStore } from './types.js';

/** connectLease opens the lease store `controller.lease` names; rejects LeaseError when it cannot. */
export async function connectLease(config: LeaseConfig): Promise<LeaseStore> {
  // A renewal that hangs must fail in time for the next one (every ttl/6) to land within the renew
  // deadline (2/3 of the ttl, see LeaderElector): two tries, not one.
  const timeout = Math.max(250, Math.floor(config.ttl / 6));
  const store =
    config.backend === 'redis'
      ? new RedisLease({ url: config.url, name: config.name, commandTimeout: timeout })
      : new PostgresLease({ url: config.url, name: config.name, queryTimeout: timeout });
  try {
    await store.connect();
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
  return store;
}

// A lease and a state store sharing one database (as `controller.state` defaults to), per backend,
// with the cleanup of everything a test named `name` left there.
import { Redis } from 'ioredis';
import pg from 'pg';
import { PostgresLease, RedisLease } from '../../src/controller/index.js';
import { PostgresState, RedisState } from '../../src/controller/state/index.js';

export const REDIS_URL = 'redis://127.0.0.1:6379';
export const PG_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export const SHARED_STORES = [
  {
    name: 'redis',
    lease: (name: string) => new RedisLease({ url: REDIS_URL, name }),
    state: (name: string) => new RedisState({ url: REDIS_URL, name, lease: name }),
    cleanup: (name: string) => dropRedisState(name),
  },
  {
    name: 'postgres',
    lease: (name: string) => new PostgresLease({ url: PG_URL, name }),
    state: (name: string) => new PostgresState({ url: PG_URL, name, lease: name }),
    cleanup: (name: string) => dropPostgresState(name),
  },
];

/** dropRedisState deletes every key a state store or lease named `name` wrote to Redis at `url`. */
export async function dropRedisState(name: string, url = REDIS_URL): Promise<void> {
  const redis = new Redis(url);
  const keys = await redis.keys(`${name}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
}

/**
 * dropPostgresState drops the tables and the seq sequence a state store (and a lease) named `name`
 * made in the PostgreSQL database at `url`.
 */
export async function dropPostgresState(name: string, url = PG_URL): Promise<void> {
  const client = new pg.Client(url);
  await client.connect();
  for (const t of ['desired', 'journal', 'instances', 'sizes', 'alerts', 'lease'])
    await client.query(`DROP TABLE IF EXISTS ${pg.escapeIdentifier(`${name}_${t}`)}`);
  await client.query(`DROP SEQUENCE IF EXISTS ${pg.escapeIdentifier(`${name}_write_seq`)}`);
  await client.end();
}

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
    async cleanup(name: string) {
      const redis = new Redis(REDIS_URL);
      const keys = await redis.keys(`${name}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    },
  },
  {
    name: 'postgres',
    lease: (name: string) => new PostgresLease({ url: PG_URL, name }),
    state: (name: string) => new PostgresState({ url: PG_URL, name, lease: name }),
    async cleanup(name: string) {
      const client = new pg.Client(PG_URL);
      await client.connect();
      for (const t of ['desired', 'journal', 'instances', 'sizes', 'alerts', 'lease'])
        await client.query(`DROP TABLE IF EXISTS ${pg.escapeIdentifier(`${name}_${t}`)}`);
      await client.query(`DROP SEQUENCE IF EXISTS ${pg.escapeIdentifier(`${name}_write_seq`)}`);
      await client.end();
    },
  },
];

// Classic cache-aside: "get user by id" with Redis (and the memory tier) in front of PostgreSQL.
// Run: npx tsx examples/cache-aside/get-user.ts   (PostgreSQL 127.0.0.1:5432 db `test`, Redis 127.0.0.1:6379)

import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { createCache } from '../../src/cache/index.js';

interface User {
  id: number;
  name: string;
  email: string;
  createdAt: Date;
}

const db = new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });
const cache = createCache({
  name: 'users',
  prefix: 'example:cache-aside:',
  ttl: '1h',
  staleIfError: '10m', // the database is down: serve the last known user for up to 10 more minutes
  negativeTtl: '30s', // unknown ids do not hit the database on every request
  redis: { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
  lock: true, // a cold popular user is loaded by one instance of the fleet
});
cache.on('error', (error) => console.warn(`cache degraded: ${error.code}`));

/** getUser returns the user, from memory, Redis, or PostgreSQL (then cached for 1 h). */
export function getUser(id: number): Promise<User | null> {
  return cache.getOrSet(
    `user:${id}`,
    async () => {
      const { rows } = await db.query<User>(
        'SELECT id, name, email, created_at AS "createdAt" FROM cache_aside_users WHERE id = $1',
        [id],
      );
      return rows[0] ?? null;
    },
    { tags: [`user:${id}`] },
  );
}

/** renameUser writes through to the database, then evicts the user in every instance. */
export async function renameUser(id: number, name: string): Promise<void> {
  await db.query('UPDATE cache_aside_users SET name = $2 WHERE id = $1', [id, name]);
  await cache.delete(`user:${id}`);
}

async function main() {
  await db.query(
    'CREATE TABLE IF NOT EXISTS cache_aside_users (id int PRIMARY KEY, name text NOT NULL, email text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())',
  );
  await db.query(
    "INSERT INTO cache_aside_users (id, name, email) VALUES (1, 'Ada', 'ada@example.com') ON CONFLICT (id) DO NOTHING",
  );
  await cache.ready();
  for (const label of ['cold (PostgreSQL)', 'warm (memory tier)']) {
    const started = performance.now();
    const user = await getUser(1);
    console.log(
      `${label}: ${JSON.stringify(user)} in ${(performance.now() - started).toFixed(2)} ms; createdAt is a Date: ${user?.createdAt instanceof Date}`,
    );
  }
  console.log('unknown id:', await getUser(404));
  await renameUser(1, 'Ada Lovelace');
  console.log('after rename:', (await getUser(1))?.name);
  await cache.close();
  await db.end();
}

// Run as a script (not imported): compared by real path, so that a symbolic link to it runs it too.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href)
  await main();

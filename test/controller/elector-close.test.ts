// LeaderElector.close while its campaign's acquire is on its way: the lease it wins must not stay held.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { LeaderElector } from '../../src/controller/leader.js';
import { type LeaseStore, PostgresLease, RedisLease } from '../../src/controller/lease/index.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const PG_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

interface Opened {
  a: LeaseStore;
  b: LeaseStore;
  cleanup(): Promise<void>;
}

const BACKENDS: { name: string; open(): Promise<Opened> }[] = [
  {
    name: 'redis',
    async open() {
      const name = `elector-close-${randomBytes(4).toString('hex')}`;
      const a = new RedisLease({ url: REDIS_URL, name });
      const b = new RedisLease({ url: REDIS_URL, name });
      await Promise.all([a.connect(), b.connect()]);
      return {
        a,
        b,
        async cleanup() {
          await Promise.all([a.close(), b.close()]);
          const redis = new Redis(REDIS_URL);
          await redis.del(`${name}:leader`, `${name}:fencing-token`);
          await redis.quit();
        },
      };
    },
  },
  {
    name: 'postgres',
    async open() {
      const name = `elector_close_${randomBytes(4).toString('hex')}`;
      const a = new PostgresLease({ url: PG_URL, name });
      const b = new PostgresLease({ url: PG_URL, name });
      await Promise.all([a.connect(), b.connect()]);
      return {
        a,
        b,
        async cleanup() {
          await Promise.all([a.close(), b.close()]);
          const client = new pg.Client(PG_URL);
          await client.connect();
          await client.query(`DROP TABLE IF EXISTS ${pg.escapeIdentifier(`${name}_lease`)}`);
          await client.end();
        },
      };
    },
  },
];

for (const backend of BACKENDS) {
  describe(`${backend.name}: LeaderElector.close during an acquire`, () => {
    let opened: Opened | undefined;
    after(() => opened?.cleanup());

    it('releases the lease the acquire won after close was called, so a standby need not wait a ttl', async () => {
      opened = await backend.open();
      const { a, b } = opened;
      // The acquire reaches the store at once; its answer is held until close() has been called,
      // as a shutdown (SIGTERM) that lands while a standby's campaign call is on the wire.
      let answered!: () => void;
      const held = new Promise<void>((r) => {
        answered = r;
      });
      let sent!: () => void;
      const inFlight = new Promise<void>((r) => {
        sent = r;
      });
      const store: LeaseStore = {
        backend: a.backend,
        async acquire(holder, ttlMs) {
          const won = await a.acquire(holder, ttlMs);
          sent();
          await held;
          return won;
        },
        renew: (grant, ttlMs) => a.renew(grant, ttlMs),
        release: (grant) => a.release(grant),
        check: (grant) => a.check(grant),
        current: () => a.current(),
        close: () => a.close(),
      };
      // A long ttl: a lease left held would keep every standby out for a minute.
      const elector = new LeaderElector({ store, holder: 'closing-standby', ttl: 60_000 });
      const started = elector.start();
      await inFlight;
      const closed = elector.close();
      answered();
      await Promise.all([started, closed]);
      assert.equal(elector.grant, undefined, 'a closed elector leads nothing');
      const current = await b.current();
      assert.equal(
        current,
        undefined,
        `after close() the lease is free for a standby; it is still held by ${current?.holder} (token ${current?.token}) for ${current?.expiresInMs} ms`,
      );
    });
  });
}

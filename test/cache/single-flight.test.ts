// Single-flight across the read: callers of one process that miss and hit around another instance's
// store get one value. Real Redis (the shared one, a unique prefix); the interleaving in Redis is
// made by holding this instance's reads on their way out, not by timing.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { createCache } from '../../src/cache/index.js';
import { until } from '../helpers/until.js';
import { cleanupPrefix, SHARED_REDIS_URL, uniquePrefix } from './helpers.js';

const admin = new Redis(SHARED_REDIS_URL);
const prefixes: string[] = [];
after(async () => {
  for (const prefix of prefixes) await cleanupPrefix(admin, prefix);
  admin.disconnect();
});

for (const memory of [true, false]) {
  test(`250 callers of one process get one value when another instance stores between their reads (memory tier ${memory ? 'on' : 'off'})`, async (t) => {
    // acceptance 1a's race, made certain: Redis answers B's first GET (a miss), then A's store, then
    // B's other GETs. B's first caller loads; before, the other 249 were served A's value by their
    // hit while the first got B's load.
    const prefix = uniquePrefix('single-flight');
    prefixes.push(prefix);
    const client = new Redis(SHARED_REDIS_URL);
    const a = createCache({ prefix, ttl: '1m', redis: { url: SHARED_REDIS_URL } });
    const b = createCache({
      prefix,
      ttl: '1m',
      ...(memory ? {} : { memory: false as const }),
      redis: { client },
    });
    t.after(async () => {
      await a.close();
      await b.close();
      client.disconnect();
    });
    assert.deepEqual([await a.ready(), await b.ready()], [true, true], 'both caches ready');
    const original = client.getBuffer.bind(client) as (key: string) => Promise<Buffer | null>;
    let reads = 0;
    let answered = 0;
    let storedByA: () => void = () => {};
    const aStored = new Promise<void>((resolve) => {
      storedByA = resolve;
    });
    (client as unknown as { getBuffer: (key: string) => Promise<Buffer | null> }).getBuffer = (key) => {
      if (++reads === 1)
        return original(key).then(async (data) => {
          // A's own load, stored as a load is (no notice): a set would be a write whose notice
          // takes B's load out of single-flight, and B's later callers rightly get the set value.
          await a.getOrSet('cold', () => 'from A');
          storedByA();
          return data;
        });
      return aStored.then(() => original(key)).finally(() => answered++);
    };
    let loads = 0;
    const results = await Promise.all(
      Array.from({ length: 250 }, () =>
        b.getOrSet('cold', async () => {
          loads++;
          // The load ends only once every other caller's read is answered (as a 200 ms database does).
          await until(() => answered === 249);
          return 'from B';
        }),
      ),
    );
    const counts = new Map<unknown, number>();
    for (const value of results) counts.set(value, (counts.get(value) ?? 0) + 1);
    assert.equal(reads, 250, `B read Redis ${reads} times for 250 callers`);
    assert.equal(loads, 1, `B's loader ran ${loads} times`);
    assert.deepEqual([...counts], [['from B', 250]], `the 250 callers got ${JSON.stringify([...counts])}`);
  });
}

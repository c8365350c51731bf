/**
 * An invalidation channel whose connection dies without a close (a half-open TCP link: a partition,
 * a host gone without a RST, a NAT entry dropped) must not leave the memory tier serving values other
 * instances have changed. B reaches the shared Redis through a proxy that stalls B's connections
 * without closing them; A, connected directly, changes the value.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { createCache } from '../../src/cache/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import { until } from '../helpers/until.js';
import { cleanupPrefix, SHARED_REDIS_URL, uniquePrefix } from './helpers.js';

const admin = new Redis(SHARED_REDIS_URL);
const prefix = uniquePrefix('bus-heartbeat');

after(async () => {
  await cleanupPrefix(admin, prefix);
  admin.disconnect();
});

test('a subscriber connection that goes silent is noticed: bus:down, then bus:up with the memory tier emptied', async () => {
  const proxy = await pausableProxy(Number(new URL(SHARED_REDIS_URL).port || 6379));
  const options = { prefix, jitter: 0, ttl: 60_000 };
  const a = createCache({ ...options, redis: { url: SHARED_REDIS_URL } });
  const b = createCache({
    ...options,
    redis: { url: `redis://127.0.0.1:${proxy.port}`, busHeartbeat: '200ms' },
  });
  b.on('error', () => {});
  const events: string[] = [];
  b.on('bus:down', () => events.push('bus:down'));
  b.on('bus:up', () => events.push('bus:up'));
  try {
    assert.equal(await a.ready(), true, 'A ready');
    assert.equal(await b.ready(), true, 'B ready');
    assert.equal(await b.getOrSet('k', () => 'v1'), 'v1');
    assert.ok(b.memoryHas('k'), 'B keeps v1 in memory');
    // Every connection B has now stalls, both ways, and nothing closes; new ones go through.
    proxy.hold();
    const changedAt = Date.now();
    await a.set('k', 'v2');
    let seen: unknown;
    await until(async () => {
      seen = await b.get('k');
      return seen === 'v2';
    }, 10_000).catch((error: Error) =>
      assert.fail(
        `${error.message}: B.get still gave ${String(seen)} (busUp ${b.busUp}, events ${events.join(',')})`,
      ),
    );
    console.log(`B read v2 ${Date.now() - changedAt} ms after A's set (heartbeat 200 ms)`);
    assert.deepEqual(events.slice(-2), ['bus:down', 'bus:up'], `B's bus events: ${events.join(',')}`);
  } finally {
    proxy.dropHeld();
    await b.close();
    await a.close();
    await proxy.close();
  }
});

/** busy keeps this thread for `ms`, as a long synchronous task (a big JSON, a GC pause) does. */
function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // spinning on purpose
  }
}

test('a process busy for longer than the heartbeat does not take its own subscriber for dead', async () => {
  const own = uniquePrefix('bus-heartbeat-busy');
  const cache = createCache({
    prefix: own,
    redis: { url: SHARED_REDIS_URL, busHeartbeat: 200 },
    memory: false,
  });
  const bus: string[] = [];
  cache.on('bus:down', () => bus.push('bus:down'));
  cache.on('error', (error) => {
    if (error.code === 'CACHE_BUS') bus.push(error.message);
  });
  const ping = Redis.prototype.ping;
  try {
    assert.equal(await cache.ready(), true, 'ready');
    // Right after a heartbeat PING goes out, this thread is busy for two beats (a check-phase task):
    // the reply arrives meanwhile and waits unread, and the next beat is due before the socket is
    // read. Whether the reply was read just before the busy spell is a matter of microseconds, so
    // the spell is repeated: without the fix, most spells raised a false alarm.
    for (let spell = 0; spell < 6; spell++) {
      let sent!: () => void;
      const pinged = new Promise<void>((resolve) => {
        sent = resolve;
      });
      Redis.prototype.ping = function (this: Redis, ...args: unknown[]) {
        Redis.prototype.ping = ping;
        setImmediate(() => {
          busy(400);
          sent();
        });
        return (ping as (...a: unknown[]) => Promise<string>).apply(this, args);
      } as typeof ping;
      await pinged;
      // No event to await for an alarm that should not come: a false one fires within two beats.
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.deepEqual(bus, [], `the subscriber was taken for dead: ${bus.join('; ')}`);
    assert.equal(cache.busUp, true, 'still subscribed');
  } finally {
    Redis.prototype.ping = ping;
    await cache.close();
  }
});

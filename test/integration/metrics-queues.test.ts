// Queue-depth metric sources against the real brokers: RabbitMQ (127.0.0.1:5672), Redis
// (127.0.0.1:6379) and NATS JetStream (127.0.0.1:4222). A broker that cannot be reached is a
// failed read (missing metric), never a depth of 0.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { AckPolicy, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import {
  type MetricSource,
  MetricSourceError,
  NatsSource,
  RabbitMqSource,
  RedisSource,
} from '../../src/metrics/index.js';
import { createQueue, redisKeys } from '../../src/queue/index.js';

const id = () => `scaleplane-test-${randomUUID().slice(0, 8)}`;

describe('RabbitMQ queue depth', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  it('reads ready messages, and a missing queue or broker is a failure', async () => {
    const queue = id();
    const conn = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
    cleanup.push(() => conn.close());
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue(queue, { autoDelete: false });
    cleanup.push(() => ch.deleteQueue(queue));
    const source = new RabbitMqSource({ url: 'amqp://guest:guest@127.0.0.1:5672', queue });
    cleanup.push(() => source.close());
    assert.deepEqual(await source.read(), [0]);
    for (let i = 0; i < 7; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
    await ch.waitForConfirms();
    assert.deepEqual(await source.read(), [7]);

    const missing = new RabbitMqSource({ url: 'amqp://guest:guest@127.0.0.1:5672', queue: id() });
    cleanup.push(() => missing.close());
    await assert.rejects(missing.read(), MetricSourceError);
    // The channel a 404 closed is reopened: the same source reads again once the queue exists.
    await assert.rejects(missing.read(), MetricSourceError);
    const down = new RabbitMqSource({ url: 'amqp://guest:guest@127.0.0.1:1', queue });
    await assert.rejects(down.read(), (err: MetricSourceError) => err.code === 'SOURCE_FAILED');
    await down.close();
    // Still readable after the failures next to it.
    assert.deepEqual(await source.read(), [7]);
  });
});

describe('Redis list and stream length', () => {
  const redis = new Redis('redis://127.0.0.1:6379');
  const keys: string[] = [];
  const sources: MetricSource[] = [];
  after(async () => {
    for (const s of sources) await s.close();
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  const source = (key: string, group?: string) => {
    const s = new RedisSource({ url: 'redis://127.0.0.1:6379', key, ...(group && { group }) });
    sources.push(s);
    return s;
  };

  it('LLEN of a list, 0 for a key that does not exist yet', async () => {
    const key = id();
    keys.push(key);
    assert.deepEqual(await source(key).read(), [0]);
    await redis.rpush(key, 'a', 'b', 'c');
    assert.deepEqual(await source(key).read(), [3]);
  });

  it('XLEN of a stream, or a consumer group backlog (lag + pending)', async () => {
    const key = id();
    keys.push(key);
    await redis.xgroup('CREATE', key, 'workers', '$', 'MKSTREAM');
    for (let i = 0; i < 5; i++) await redis.xadd(key, '*', 'n', String(i));
    assert.deepEqual(await source(key).read(), [5]);
    // A worker takes 2 and acks 1: 3 undelivered + 1 pending.
    const got = (await redis.xreadgroup('GROUP', 'workers', 'w1', 'COUNT', 2, 'STREAMS', key, '>')) as [
      string,
      [string, string[]][],
    ][];
    await redis.xack(key, 'workers', got[0]![1][0]![0]);
    assert.deepEqual(await source(key, 'workers').read(), [4]);
    await assert.rejects(source(key, 'nobody').read(), MetricSourceError);
  });

  it('a scaleplane/queue stream counts its due delayed jobs, which no worker moves while none runs', async () => {
    // Scaled to zero, no worker promotes due delayed jobs into the stream: counted only as lag,
    // they read 0 for ever and the group never woke to run them.
    const queue = createQueue({ backend: 'redis', redis: 'redis://127.0.0.1:6379' });
    const name = id();
    try {
      await queue.publish(name, 'in a minute', { delay: 60_000 });
      await queue.publish(name, 'soon 1', { delay: 1500 });
      await queue.publish(name, 'soon 2', { delay: 1500 });
      const s = source(redisKeys('sp', name).stream, 'workers');
      assert.deepEqual(await s.read(), [0], 'nothing due yet');
      const deadline = Date.now() + 5000;
      let reading = await s.read();
      while (reading[0] !== 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        reading = await s.read();
      }
      assert.deepEqual(reading, [2], 'the two due jobs, not the one due in a minute');
    } finally {
      await queue.destroy(name).catch(() => {});
      await queue.close();
    }
  });

  it("a scaleplane/queue stream's :delayed key of another type fails the read, naming it and its type", async () => {
    // Another application's key at the `:delayed` name read as 0 due jobs: a misconfiguration that
    // could scale the group to zero unseen.
    const keys2 = redisKeys('sp', id());
    keys.push(keys2.stream, keys2.delayed);
    await redis.xgroup('CREATE', keys2.stream, 'workers', '$', 'MKSTREAM');
    await redis.xadd(keys2.stream, '*', 'n', '1');
    assert.deepEqual(await source(keys2.stream, 'workers').read(), [1], 'no :delayed key: no due jobs');
    for (const [type, write] of [
      ['string', () => redis.set(keys2.delayed, 'not jobs')],
      ['list', () => redis.rpush(keys2.delayed, 'a', 'b')],
    ] as const) {
      await redis.del(keys2.delayed);
      await write();
      await assert.rejects(source(keys2.stream, 'workers').read(), (err: Error) => {
        assert.ok(err instanceof MetricSourceError, `a MetricSourceError, got ${err}`);
        assert.equal(err.code, 'SOURCE_FAILED');
        assert.ok(
          err.message.includes(`${keys2.delayed} is a ${type}`),
          `names the key and type: ${err.message}`,
        );
        return true;
      });
    }
  });

  it('an unreachable server fails the read', async () => {
    const s = new RedisSource({ url: 'redis://127.0.0.1:1', key: 'k' });
    await assert.rejects(s.read(), MetricSourceError);
    await s.close();
  });
});

describe('NATS JetStream consumer pending', () => {
  it('counts undelivered plus unacknowledged messages of a durable consumer', async (t) => {
    const nc = await connect({ servers: '127.0.0.1:4222' });
    const jsm = await jetstreamManager(nc);
    const stream = id().replaceAll('-', '_');
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    t.after(async () => {
      await jsm.streams.delete(stream).catch(() => {});
      await nc.close();
    });
    await jsm.consumers.add(stream, { durable_name: 'workers', ack_policy: AckPolicy.Explicit });
    const js = jsm.jetstream();
    for (let i = 0; i < 6; i++) await js.publish(`${stream}.job`, String(i));
    const source = new NatsSource({ url: 'nats://127.0.0.1:4222', stream, consumer: 'workers' });
    t.after(() => source.close());
    assert.deepEqual(await source.read(), [6]);
    const consumer = await js.consumers.get(stream, 'workers');
    const msg = await consumer.next();
    assert.ok(msg, 'msg');
    // Delivered, not acked: still backlog.
    assert.deepEqual(await source.read(), [6]);
    // ackAck alone: it waits for the server to confirm. After an ack(), it was a second ack the
    // client refused at once, so the read raced the first one (6 once in a loaded run).
    assert.equal(await msg.ackAck(), true, 'the server confirmed the ack');
    assert.deepEqual(await source.read(), [5]);
    // A consumer not made yet reads as every message it would be given (deliver policy all), the
    // acked one included: this stream keeps messages (limits), and it has not seen them yet.
    // Before, its read failed (metrics-nats-no-consumer.test.ts).
    const missing = new NatsSource({ url: 'nats://127.0.0.1:4222', stream, consumer: 'nobody' });
    assert.deepEqual(await missing.read(), [6]);
    await missing.close();
  });
});

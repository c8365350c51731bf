// Queue-depth sources whose server stops answering (SIGSTOP, a partition), simulated by a proxy in
// front of the real Redis (6379), RabbitMQ (5672) and NATS (4222) that stops forwarding. Before,
// the read hung: the value went stale after 10 s, but nothing was reported (no log, no alert), and
// closing the metric (reload, shutdown) waited for the hung read — forever on Redis.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { AckPolicy, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import {
  type MetricSource,
  NatsSource,
  PolledMetric,
  RabbitMqSource,
  RedisSource,
} from '../../src/metrics/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import { until } from '../helpers/until.js';

const key = `scaleplane-paused-${randomUUID().slice(0, 8)}`;

describe('a metric source whose server stops answering', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  const cases: { name: string; port: number; make: (port: number) => Promise<MetricSource> }[] = [
    {
      name: 'redis',
      port: 6379,
      make: async (port) => {
        const redis = new Redis('redis://127.0.0.1:6379');
        await redis.rpush(key, 'a', 'b');
        cleanup.push(async () => {
          await redis.del(key);
          redis.disconnect();
        });
        return new RedisSource({ url: `redis://127.0.0.1:${port}`, key });
      },
    },
    {
      name: 'rabbitmq',
      port: 5672,
      make: async (port) => {
        const conn = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
        const ch = await conn.createConfirmChannel();
        await ch.assertQueue(key, { autoDelete: false });
        ch.sendToQueue(key, Buffer.from('a'));
        ch.sendToQueue(key, Buffer.from('b'));
        await ch.waitForConfirms();
        cleanup.push(async () => {
          await ch.deleteQueue(key);
          await conn.close();
        });
        return new RabbitMqSource({ url: `amqp://guest:guest@127.0.0.1:${port}`, queue: key });
      },
    },
    {
      name: 'nats',
      port: 4222,
      make: async (port) => {
        const nc = await connect({ servers: '127.0.0.1:4222' });
        const jsm = await jetstreamManager(nc);
        const stream = key.replace(/-/g, '_');
        await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
        await jsm.consumers.add(stream, { durable_name: 'workers', ack_policy: AckPolicy.Explicit });
        const js = jsm.jetstream();
        await js.publish(`${stream}.a`, 'a');
        await js.publish(`${stream}.b`, 'b');
        cleanup.push(async () => {
          await jsm.streams.delete(stream);
          await nc.close();
        });
        return new NatsSource({ url: `127.0.0.1:${port}`, stream, consumer: 'workers' });
      },
    },
  ];

  for (const c of cases) {
    it(`${c.name}: is reported failed within the timeout, reads once at a time, recovers, closes at once`, async () => {
      const proxy = await pausableProxy(c.port);
      cleanup.push(() => proxy.close());
      const source = await c.make(proxy.port);
      let reads = 0;
      let settled = 0;
      const read = source.read.bind(source);
      source.read = (context) => {
        reads++;
        const result = read(context);
        result.then(
          () => settled++,
          () => settled++,
        );
        return result;
      };
      const reported: (string | undefined)[] = [];
      const polled = new PolledMetric({
        source,
        target: 1,
        group: 'workers',
        instances: () => [],
        interval: 50,
        timeout: 400,
        onError: (err) => reported.push(err?.message),
      });
      cleanup.push(() => polled.close());
      polled.start();
      await until(() => settled >= 2, 10_000, 'two reads before the pause');
      assert.deepEqual(polled.observe(Date.now()).values, [2]);
      assert.equal(reported.length, 0, 'nothing reported while it answers');
      proxy.pause();
      const pausedAt = Date.now();
      await until(() => reported.includes('no answer within 400 ms'), 5_000, 'the hung read reported');
      const reportedAfter = Date.now() - pausedAt;
      assert.ok(polled.observe(Date.now()).error, 'missing, not the last value');
      const readsWhilePaused = reads;
      // Several poll intervals later: still one read outstanding, reported once.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.ok(reads - settled <= 1, `${reads - settled} reads outstanding`);
      assert.equal(reads, readsWhilePaused, 'no new read while one hangs');
      assert.equal(reported.filter((m) => m !== undefined).length, 1, 'reported once per streak');
      console.log(`[${c.name}] hung read reported after ${reportedAfter} ms`);
      proxy.resume();
      await until(() => reported.includes(undefined), 10_000, 'recovery reported');
      await until(() => polled.observe(Date.now()).values[0] === 2, 5_000, 'the value back');
      proxy.pause();
      await until(() => reads > settled, 5_000, 'a read hanging again');
      const closing = Date.now();
      await polled.close();
      const closeMs = Date.now() - closing;
      console.log(`[${c.name}] close() with a hung read took ${closeMs} ms`);
      assert.ok(closeMs < 2_000, `close() took ${closeMs} ms`);
    });
  }
});

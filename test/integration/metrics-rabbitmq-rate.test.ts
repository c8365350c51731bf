// `rabbitmq: { mode: rate }` against the real broker (127.0.0.1:5672, guest/guest) and its
// management API (127.0.0.1:15672; scripts/services/rabbitmq.sh enables the plugin). The broker
// samples queue statistics every 5 s (collect_statistics_interval) and the rate is the change
// between the last two samples, so the test waits — by polling, with a deadline — for the
// statistics to show two samples taken while publishing, instead of sleeping a fixed time.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import { MetricSourceError, PolledMetric, RabbitMqSource } from '../../src/metrics/index.js';
import { closedPort } from '../helpers/ports.js';

const AMQP = 'amqp://guest:guest@127.0.0.1:5672';
const API = 'http://127.0.0.1:15672';
const AUTH = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
const id = () => `scaleplane-rate-${randomUUID().slice(0, 8)}`;

/** publishCount is the queue's `message_stats.publish` as the management API last sampled it. */
async function publishCount(queue: string): Promise<number | undefined> {
  const res = await fetch(`${API}/api/queues/%2F/${encodeURIComponent(queue)}`, {
    headers: { authorization: AUTH },
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { message_stats?: { publish?: number } };
  return body.message_stats?.publish;
}

/** ratesSampled is true once the management API has sampled the queue's rates (messages_details). */
async function ratesSampled(queue: string): Promise<true | undefined> {
  const res = await fetch(`${API}/api/queues/%2F/${encodeURIComponent(queue)}`, {
    headers: { authorization: AUTH },
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { messages_details?: unknown };
  return body.messages_details === undefined ? undefined : true;
}

/** until polls `probe` every 200 ms until it returns a value, or fails after `ms`. */
async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(200);
  }
}

describe('RabbitMQ publish rate (management API)', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  it('reports a steady publish rate within ±25 %, no value for a queue not sampled yet, 0 for a sampled idle one, and 0 once publishing stops', async () => {
    const RATE = 40; // messages/s
    const conn = await amqp.connect(AMQP);
    cleanup.push(() => conn.close());
    const ch = await conn.createChannel();
    const busy = id();
    const idle = id();
    for (const q of [busy, idle]) {
      await ch.assertQueue(q, { autoDelete: false });
      cleanup.push(() => ch.deleteQueue(q));
    }
    const source = new RabbitMqSource({ url: AMQP, queue: busy, mode: 'rate' });
    const idleSource = new RabbitMqSource({ url: AMQP, queue: idle, mode: 'rate' });
    cleanup.push(
      () => source.close(),
      () => idleSource.close(),
    );
    // A fresh queue: the broker has not sampled it, so there is no value, not 0. (Unless a sample
    // fell between its creation and this read: checked after the read, as sampling only adds.)
    const early = await idleSource.read().then(
      (values) => values,
      (err: unknown) => err,
    );
    if ((await ratesSampled(idle)) === undefined) {
      assert.ok(early instanceof MetricSourceError, `expected no value, got ${String(early)}`);
      assert.equal(early.code, 'SOURCE_NOT_READ');
      assert.match(early.message, /no value/);
    }

    // Publish on a schedule (RATE × elapsed messages sent so far), so timer drift does not change
    // the rate; bounded by the deadline below and stopped as soon as the reading is taken.
    const started = Date.now();
    let sent = 0;
    const publisher = setInterval(() => {
      const due = Math.floor(((Date.now() - started) / 1000) * RATE);
      for (; sent < due; sent++) ch.sendToQueue(busy, Buffer.from(String(sent)));
    }, 20);
    let rate: number;
    try {
      // Two samples taken while publishing: the first count the API shows, then a larger one.
      const first = await until('the first statistics sample', 15_000, () => publishCount(busy));
      await until('a second statistics sample', 15_000, async () => {
        const now = await publishCount(busy);
        return now !== undefined && now > first ? now : undefined;
      });
      [rate] = (await source.read()) as [number];
    } finally {
      clearInterval(publisher);
    }
    console.log(`published ${sent} at ${RATE}/s over ${Date.now() - started} ms; source read ${rate}/s`);
    assert.ok(rate >= RATE * 0.75 && rate <= RATE * 1.25, `rate ${rate} outside ${RATE} ± 25 %`);

    // The idle queue, once the broker has sampled it too (messages_details), reads 0: nothing was
    // published to it, a measured 0. Before, it had no value for as long as nothing came, and a
    // group scaled on it never scaled in.
    await until('the idle queue to be sampled', 15_000, () => ratesSampled(idle));
    assert.deepEqual(await idleSource.read(), [0], 'a sampled queue nothing was published to');
    // Publishing stopped: the broker measures a rate of 0 (a real 0) within two sample intervals.
    const stopped = Date.now();
    await until('the rate to fall to 0', 20_000, async () => {
      const [now] = await source.read();
      return now === 0 ? now : undefined;
    });
    console.log(`rate read 0 ${Date.now() - stopped} ms after publishing stopped`);
  });

  it('no value is a missing metric to the policy, with no failure reported (no alert)', async (t) => {
    const conn = await amqp.connect(AMQP);
    const ch = await conn.createChannel();
    const queue = id();
    await ch.assertQueue(queue, { autoDelete: false });
    t.after(async () => {
      await ch.deleteQueue(queue);
      await conn.close();
    });
    const reported: (Error | undefined)[] = [];
    const metric = new PolledMetric({
      source: new RabbitMqSource({ url: AMQP, queue, mode: 'rate' }),
      target: 10,
      group: 'workers',
      instances: () => [],
      onError: (err) => reported.push(err),
    });
    t.after(() => metric.close());
    await metric.poll();
    const observed = metric.observe(Date.now());
    assert.deepEqual(observed.values, []);
    assert.match(observed.error ?? '', /no value/);
    assert.deepEqual(reported, []);
  });

  it('an unknown queue, an unknown vhost, wrong credentials or no API are errors naming the cause', async () => {
    // A port nothing listens on (fetch refuses well-known ports such as 1 outright).
    const closed = await closedPort();
    const failures: [RabbitMqSource, RegExp][] = [
      [
        new RabbitMqSource({ url: AMQP, queue: 'no-such-queue-xyz', mode: 'rate' }),
        /queue no-such-queue-xyz .*404/,
      ],
      [
        new RabbitMqSource({ url: `${AMQP}/no-such-vhost`, queue: 'jobs', mode: 'rate' }),
        /queue jobs \(vhost no-such-vhost\).*404/,
      ],
      [
        new RabbitMqSource({
          url: AMQP,
          queue: 'jobs',
          mode: 'rate',
          managementUrl: `http://guest:wrong@127.0.0.1:15672`,
        }),
        /refused user guest \(401/,
      ],
      // Credentials from the AMQP URL when management_url has none.
      [
        new RabbitMqSource({ url: 'amqp://guest:wrong@127.0.0.1', queue: 'jobs', mode: 'rate' }),
        /refused user guest \(401/,
      ],
      [
        new RabbitMqSource({
          url: AMQP,
          queue: 'jobs',
          mode: 'rate',
          managementUrl: `http://127.0.0.1:${closed}`,
        }),
        new RegExp(
          `management API http://127\\.0\\.0\\.1:${closed}/api/queues/%2F/jobs: fetch failed: .*ECONNREFUSED`,
        ),
      ],
    ];
    for (const [source, message] of failures) {
      cleanup.push(() => source.close());
      await assert.rejects(source.read(), (err: unknown) => {
        assert.ok(err instanceof MetricSourceError, 'err instanceof MetricSourceError');
        assert.equal(err.code, 'SOURCE_FAILED');
        assert.match(err.message, message);
        assert.doesNotMatch(err.message, /wrong/, 'the password is not in the message');
        return true;
      });
    }
  });

  it('a management API that answers garbage or not at all (local HTTP server) fails the read', async (t) => {
    let answer: 'garbage' | 'silent' = 'garbage';
    const server: Server = createServer((_req, res) => {
      if (answer === 'garbage') res.end('<html>proxy error</html>');
      // silent: never answers; the source's timeout gives up.
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const { port } = server.address() as AddressInfo;
    const source = new RabbitMqSource({
      url: AMQP,
      queue: 'jobs',
      mode: 'rate',
      managementUrl: `http://127.0.0.1:${port}`,
      timeout: 300,
    });
    t.after(() => source.close());
    await assert.rejects(source.read(), (err: unknown) => {
      assert.ok(err instanceof MetricSourceError, 'err instanceof MetricSourceError');
      assert.equal(err.code, 'SOURCE_BAD_RESPONSE');
      assert.match(err.message, /invalid JSON: <html>proxy error<\/html>/);
      return true;
    });
    answer = 'silent';
    const begun = Date.now();
    await assert.rejects(source.read(), /no answer within 300 ms/);
    assert.ok(Date.now() - begun < 3000, 'the timeout bounded the read');
    // close() does not wait out a hanging request.
    const closing = new RabbitMqSource({
      url: AMQP,
      queue: 'jobs',
      mode: 'rate',
      managementUrl: `http://127.0.0.1:${port}`,
      timeout: 60_000,
    });
    const hanging = closing.read();
    const closedAt = Date.now();
    await closing.close();
    await assert.rejects(
      hanging,
      (err: unknown) => err instanceof MetricSourceError && err.code === 'SOURCE_FAILED',
    );
    assert.ok(Date.now() - closedAt < 3000, 'close() aborted the request');
  });

  it('mode length (the default) still reads the depth over AMQP', async (t) => {
    const conn = await amqp.connect(AMQP);
    const ch = await conn.createConfirmChannel();
    const queue = id();
    await ch.assertQueue(queue, { autoDelete: false });
    t.after(async () => {
      await ch.deleteQueue(queue);
      await conn.close();
    });
    for (let i = 0; i < 3; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
    await ch.waitForConfirms();
    const source = new RabbitMqSource({ url: AMQP, queue });
    t.after(() => source.close());
    assert.equal(source.mode, 'length');
    assert.deepEqual(await source.read(), [3]);
  });
});

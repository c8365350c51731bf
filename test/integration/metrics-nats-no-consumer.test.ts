// The `nats` metric source reads a durable consumer's pending + unacked messages. A worker group
// scaled to zero that never ran never made its consumer, and reading it failed ("consumer not
// found"), so the group was never woken by its backlog. A consumer that does not exist yet now
// reads as what it would be given once made (deliver policy all): every message of the stream on
// its filter subject (`filterSubject`; none: the whole stream), less delayed jobs not due. A
// missing stream still fails the read, naming the stream. Real NATS on 4222, a fresh stream each.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { AckPolicy, type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { MetricSourceError, NatsSource, type NatsSourceOptions } from '../../src/metrics/index.js';
import { createQueue } from '../../src/queue/index.js';
import { natsNames } from '../../src/queue/nats/backend.js';
import { uniqueName } from '../queue/helpers.js';

const url = 'nats://127.0.0.1:4222';

/** managed connects a JetStream manager to 4222 for one test, closed after it. */
async function managed(t: TestContext): Promise<JetStreamManager> {
  const nc = await connect({ servers: '127.0.0.1:4222' });
  t.after(() => nc.close());
  return jetstreamManager(nc);
}

/** sourceFor makes a NatsSource closed after the test. */
function sourceFor(t: TestContext, options: Omit<NatsSourceOptions, 'url'>): NatsSource {
  const source = new NatsSource({ url, ...options });
  t.after(() => source.close());
  return source;
}

describe('NATS consumer pending before the consumer exists', () => {
  it('reads the messages on its filter subject; once made, its own pending', async (t) => {
    const jsm = await managed(t);
    const stream = `NOCONS_${randomBytes(4).toString('hex')}`;
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    t.after(() => jsm.streams.delete(stream).catch(() => {}));
    const js = jsm.jetstream();
    for (let i = 0; i < 7; i++) await js.publish(`${stream}.jobs`, String(i));
    for (let i = 0; i < 2; i++) await js.publish(`${stream}.audit`, String(i));

    const jobs = sourceFor(t, { stream, consumer: 'workers', filterSubject: `${stream}.jobs` });
    const read = await jobs.read().catch((error: Error) => error.message);
    console.log(`no consumer, filter ${stream}.jobs: ${JSON.stringify(read)}`);
    assert.deepEqual(read, [7], 'the 7 messages on the filter subject, not the 2 beside them');
    const everything = sourceFor(t, { stream, consumer: 'workers' });
    assert.deepEqual(await everything.read(), [9], 'no filter subject: every message of the stream');

    await jsm.consumers.add(stream, {
      durable_name: 'workers',
      ack_policy: AckPolicy.Explicit,
      filter_subject: `${stream}.jobs`,
    });
    const consumer = await js.consumers.get(stream, 'workers');
    const batch = await consumer.fetch({ max_messages: 2, expires: 2000 });
    let acked = 0;
    for await (const m of batch) {
      assert.equal(await m.ackAck(), true, 'the server confirmed the ack');
      acked++;
    }
    assert.equal(acked, 2);
    assert.deepEqual(await jobs.read(), [5], "the consumer's own pending, 2 acked");
  });

  it('a scaleplane/queue never consumed reads its due jobs, not those delayed', async (t) => {
    const name = uniqueName('no-consumer');
    const queue = createQueue({ backend: 'nats', servers: '127.0.0.1:4222' });
    t.after(async () => {
      await queue.destroy(name).catch(() => {});
      await queue.close();
    });
    for (let i = 0; i < 3; i++) await queue.publish(name, i);
    await queue.publish(name, 'in a minute', { delay: 60_000 });
    const source = sourceFor(t, { stream: natsNames(name).stream, consumer: 'workers' });
    const read = await source.read().catch((error: Error) => error.message);
    console.log(`queue with no worker yet: ${JSON.stringify(read)}`);
    assert.deepEqual(read, [3], 'the 3 due jobs wake the group; the delayed one does not');
    // A filter subject matching the delayed subjects too leaves the job not due out as well.
    const filtered = sourceFor(t, {
      stream: natsNames(name).stream,
      consumer: 'workers',
      filterSubject: '>',
    });
    assert.deepEqual(await filtered.read(), [3], 'filter >: the 3 due jobs, not the delayed one');
  });

  it('a missing stream still fails the read, naming the stream', async (t) => {
    const stream = `NOSTREAM_${randomBytes(4).toString('hex')}`;
    const source = sourceFor(t, { stream, consumer: 'workers' });
    const error = await source.read().then(
      (values) => assert.fail(`read ${JSON.stringify(values)}`),
      (e: unknown) => e,
    );
    assert.ok(error instanceof MetricSourceError, String(error));
    assert.equal(error.code, 'SOURCE_FAILED');
    assert.ok(error.message.includes(`stream "${stream}" not found`), error.message);
  });
});

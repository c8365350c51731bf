// A JetStream request of a depth read, a worker's start, a dead-letter listing or purge, or a
// destroy that failed went up as the NATS client's own error: no QueueError code to branch on, and
// neither the queue nor what was being done named. A user refused the dead-letter stream's message
// get saw `Permissions Violation for Publish to "$JS.API.STREAM.MSG.GET.SP_<q>_DLQ"` from
// `dlq(q).list()`; a depth read of a queue whose subject another stream takes saw `subjects overlap
// with an existing stream` alone (a JetStream API error, its code 10065 dropped); a worker that
// could not make its consumer reported only `cannot subscribe to <q>`. Now each is a QueueError
// (QUEUE_BACKEND; a publish's QUEUE_PUBLISH_FAILED) saying what was not done, which request on
// which stream or consumer failed, and the server's words with the API error's code.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createQueue, type Queue, QueueError, type QueueOptions } from '../../src/queue/index.js';
import { startNatsServer } from '../helpers/nats-server.js';
import { deadLetteringWorker, uniqueName, waitFor } from './helpers.js';

/** outcome is what `call` settles to: its value, or its error. */
const outcome = (call: Promise<unknown>) =>
  call.then(
    (value) => value,
    (error: unknown) => error,
  );

/** assertQueueError asserts `error` is a QueueError of `code` whose message includes each of `parts`. */
function assertQueueError(error: unknown, code: string, parts: string[]): asserts error is QueueError {
  assert.ok(error instanceof QueueError, `a QueueError, not ${String(error)}`);
  assert.equal(error.code, code, error.message);
  for (const part of parts) assert.ok(error.message.includes(part), `names ${part}: ${error.message}`);
}

describe('NATS request failures name the queue, the request and the stream', () => {
  it('a queue whose subject another stream takes: depth, publish (JetStream API error 10065)', async (t) => {
    const name = uniqueName('overlap');
    const nc = await connect({ servers: '127.0.0.1:4222' });
    t.after(() => nc.close());
    const jsm = await jetstreamManager(nc);
    const blocking = `BLOCK_${randomBytes(4).toString('hex')}`;
    await jsm.streams.add({ name: blocking, subjects: [`sp.q.${name}`] });
    t.after(() => jsm.streams.delete(blocking).catch(() => {}));
    const queue = createQueue({ backend: 'nats', servers: '127.0.0.1:4222', publishTimeout: 10_000 });
    queue.on('error', () => {});
    t.after(() => queue.close());

    const request = `stream add of SP_${name} (subjects sp.q.${name}, sp.q.${name}.d.*) failed`;
    const depth = await outcome(queue.depth(name));
    console.log(`depth: ${depth instanceof Error ? depth.message : JSON.stringify(depth)}`);
    assertQueueError(depth, 'QUEUE_BACKEND', [
      `nats: depth of queue "${name}" not read: ${request}`,
      'subjects overlap with an existing stream, JetStream API error 10065',
    ]);
    const published = await outcome(queue.publish(name, 'job'));
    console.log(`publish: ${published instanceof Error ? published.message : JSON.stringify(published)}`);
    assertQueueError(published, 'QUEUE_PUBLISH_FAILED', [
      `not stored: ${request}`,
      'JetStream API error 10065',
    ]);
  });

  describe('a user allowed only info requests', () => {
    const cleanup: (() => Promise<unknown>)[] = [];
    const name = uniqueName('reqerr');
    const fresh = uniqueName('reqerr-fresh');
    let port = 0;
    /** queueAs is a queue of `user` on the test's server, closed after. */
    const queueAs = (user: string, options: Partial<QueueOptions> = {}): Queue => {
      const queue = createQueue({
        backend: 'nats',
        servers: `127.0.0.1:${port}`,
        nats: { user, pass: user },
        publishTimeout: 10_000,
        ...options,
      } as QueueOptions);
      queue.on('error', () => {});
      cleanup.push(() => queue.close());
      return queue;
    };
    before(async () => {
      port = await startNatsServer(cleanup, {
        config: (store) => `jetstream { store_dir: ${JSON.stringify(store)} }
authorization {
  users: [
    { user: admin, password: admin }
    {
      user: ro, password: ro
      permissions: {
        publish: { allow: ["$JS.API.INFO", "$JS.API.STREAM.INFO.>", "$JS.API.CONSUMER.INFO.>"] }
        subscribe: { allow: ["_INBOX.>"] }
      }
    }
  ]
}
`,
      });
      // One dead letter in `name`'s dead-letter stream; `fresh` has its streams and no consumer.
      const admin = queueAs('admin');
      const { worker, dead } = await deadLetteringWorker(admin, name);
      await admin.publish(name, 'job');
      await waitFor(() => dead.length === 1, 'the job to be dead-lettered');
      await worker.close();
      await admin.publish(fresh, 'job');
    });
    after(async () => {
      for (const c of cleanup.reverse()) await c().catch(() => {});
    });

    it('dlq list and purge, destroy: refused by permissions, each names what and where', async () => {
      const ro = queueAs('ro');
      const dlq = `SP_${name}_DLQ`;
      const list = await outcome(ro.dlq(name).list());
      console.log(`dlq.list: ${list instanceof Error ? list.message : JSON.stringify(list)}`);
      assertQueueError(list, 'QUEUE_BACKEND', [
        `nats: dead letters of queue "${name}" not listed: message get of ${dlq} (from seq 1) failed`,
        `Permissions Violation for Publish to "$JS.API.STREAM.MSG.GET.${dlq}"`,
      ]);
      const purge = await outcome(ro.dlq(name).purge());
      console.log(`dlq.purge: ${purge instanceof Error ? purge.message : JSON.stringify(purge)}`);
      assertQueueError(purge, 'QUEUE_BACKEND', [
        `nats: dead letters of queue "${name}" not purged: purge of ${dlq} failed`,
        `Permissions Violation for Publish to "$JS.API.STREAM.PURGE.${dlq}"`,
      ]);
      const destroy = await outcome(ro.destroy(name));
      console.log(`destroy: ${destroy instanceof Error ? destroy.message : JSON.stringify(destroy)}`);
      assertQueueError(destroy, 'QUEUE_BACKEND', [
        `nats: queue "${name}" not destroyed: stream delete of SP_${name} failed`,
        `Permissions Violation for Publish to "$JS.API.STREAM.DELETE.SP_${name}"`,
      ]);
    });

    it("a worker refused its consumer's creation says so, naming the consumer", async () => {
      const ro = queueAs('ro');
      const worker = ro.worker(fresh, () => {});
      const [error] = (await once(worker, 'error')) as [unknown];
      await worker.close();
      console.log(`worker: ${error instanceof Error ? error.message : String(error)}`);
      assertQueueError(error, 'QUEUE_CONNECTION', [
        `cannot subscribe to ${fresh}: nats: worker of queue "${fresh}" not started: consumer add of SP_${fresh}/workers failed`,
        `Permissions Violation for Publish to "$JS.API.CONSUMER.CREATE.SP_${fresh}.workers"`,
      ]);
    });
  });
});

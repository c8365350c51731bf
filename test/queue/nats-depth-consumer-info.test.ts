// readNatsDepth took any failure of its consumer-info request for "no consumer yet" and read every
// stored job as waiting: a timeout, a permission denied or a lost connection read as a full backlog,
// which scaled workers out for nothing, and the failure went unseen. Only ConsumerNotFound (10014)
// means that now; any other failure rejects the reading, naming the queue and the cause. Shown on a
// nats-server of the test's own (kernel-chosen port, JetStream in a temp dir) whose user `reader` may
// not publish to `$JS.API.CONSUMER.INFO.>`, everything else allowed: before the fix the reading
// resolved: 3 jobs delivered and unacked (depth 0, pending 3) read as depth 3, pending 0.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createQueue, type Queue, QueueError, readNatsDepth } from '../../src/queue/index.js';
import { startNatsServer } from '../helpers/nats-server.js';
import { backendOptions, uniqueName } from './helpers.js';

const DENIED = '$JS.API.CONSUMER.INFO.>';

/** startNats runs a JetStream nats-server with an `admin` and a `reader` user; resolves with its port. */
function startNats(cleanup: (() => Promise<unknown>)[]): Promise<number> {
  return startNatsServer(cleanup, {
    config: (store) => `jetstream { store_dir: ${JSON.stringify(store)} }
authorization {
  users: [
    { user: admin, password: admin }
    {
      user: reader, password: reader
      permissions: {
        publish: { allow: [">"], deny: [${JSON.stringify(DENIED)}] }
        subscribe: { allow: [">"] }
      }
    }
  ]
}
`,
  });
}

describe('NATS depth when the consumer info request fails', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  let port = 0;
  before(async () => {
    port = await startNats(cleanup);
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  const client = async (user: string): Promise<NatsConnection> => {
    const nc = await connect({ servers: `127.0.0.1:${port}`, user, pass: user });
    cleanup.push(() => nc.close());
    return nc;
  };
  const queueAs = (user: string): Queue => {
    const queue = createQueue({ backend: 'nats', servers: `127.0.0.1:${port}`, nats: { user, pass: user } });
    cleanup.push(() => queue.close());
    return queue;
  };

  it('rejects the reading (no backlog made up), naming the queue and the cause', async () => {
    const name = uniqueName('depthperm');
    const admin = queueAs('admin');
    for (let i = 0; i < 3; i++) await admin.publish(name, i);
    const nc = await client('admin');
    const adminJsm = await jetstreamManager(nc);
    await adminJsm.consumers.add(`SP_${name}`, { durable_name: 'workers', ack_policy: AckPolicy.Explicit });
    // A worker took the 3 jobs and runs them (delivered, unacked): no job waits.
    const taken = await jetstream(nc).consumers.get(`SP_${name}`, 'workers');
    let delivered = 0;
    for await (const _ of await taken.fetch({ max_messages: 3, expires: 2000 })) if (++delivered === 3) break;
    assert.equal(delivered, 3, 'the 3 jobs were delivered');
    const truth = await admin.depth(name);
    assert.deepEqual({ depth: truth.depth, pending: truth.pending }, { depth: 0, pending: 3 });

    const readerJsm = await jetstreamManager(await client('reader'), { timeout: 5000 });
    const direct = await readNatsDepth(readerJsm, name).then(
      (reading) => reading,
      (error: unknown) => error,
    );
    console.log('readNatsDepth as reader:', direct instanceof Error ? direct.message : direct);
    assert.ok(
      direct instanceof QueueError,
      `readNatsDepth rejects, not a reading: ${JSON.stringify(direct)}`,
    );
    assert.equal(direct.code, 'QUEUE_BACKEND');
    assert.ok(direct.message.includes(`"${name}"`), `names the queue: ${direct.message}`);
    assert.ok(
      direct.message.includes(`consumer info of SP_${name}/workers`),
      `names the request: ${direct.message}`,
    );
    assert.match(direct.message, /permissions violation/i, 'says why (the server refused it)');
    assert.ok(direct.cause instanceof Error, 'keeps the client error as its cause');

    // The caller: Queue.depth (the backend's depth()) rejects with the same error.
    const viaQueue = await queueAs('reader')
      .depth(name)
      .then(
        (reading) => reading,
        (error: unknown) => error,
      );
    console.log('queue.depth as reader:', viaQueue instanceof Error ? viaQueue.message : viaQueue);
    assert.ok(viaQueue instanceof QueueError, `queue.depth rejects: ${JSON.stringify(viaQueue)}`);
    assert.equal(viaQueue.code, 'QUEUE_BACKEND');
    assert.ok(viaQueue.message.includes(`"${name}"`), `names the queue: ${viaQueue.message}`);
    assert.match(viaQueue.message, /permissions violation/i, 'says why (the server refused it)');
  });

  it('with no consumer at all, every stored job is waiting (own server and the shared one)', async () => {
    const name = uniqueName('depthnocons');
    const admin = queueAs('admin');
    for (let i = 0; i < 3; i++) await admin.publish(name, i);
    const adminJsm = await jetstreamManager(await client('admin'));
    const own = await readNatsDepth(adminJsm, name);
    assert.deepEqual({ depth: own.depth, pending: own.pending }, { depth: 3, pending: 0 });
    assert.deepEqual(await adminJsm.consumers.list(`SP_${name}`).next(), [], 'the reading made no consumer');

    const shared = createQueue(backendOptions('nats'));
    const sharedName = uniqueName('depthnocons');
    cleanup.push(async () => {
      await shared.destroy(sharedName).catch(() => {});
      await shared.close();
    });
    for (let i = 0; i < 2; i++) await shared.publish(sharedName, i);
    const reading = await shared.depth(sharedName);
    assert.deepEqual({ depth: reading.depth, pending: reading.pending }, { depth: 2, pending: 0 });
  });
});

// A publish the server refuses by permissions ("Permissions Violation for Publish to …") never
// reached a stream. Before, the backend took it for a transient failure and re-sent it until
// `publishTimeout`, then reported QUEUE_PUBLISH_TIMEOUT, which says the job may still arrive. Now it
// fails at once with QUEUE_PUBLISH_FAILED naming the subject and the refusal. Shown on a nats-server
// of the test's own (kernel-chosen port, JetStream in a temp dir) whose user `producer` may publish
// anything but the subjects of one queue, `sp.q.<name>` and its delayed `sp.q.<name>.d.<due>` (the
// JetStream API included, so its streams are made).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createQueue, type Queue, QueueError, type QueueOptions } from '../../src/queue/index.js';
import { startNatsServer } from '../helpers/nats-server.js';
import { uniqueName } from './helpers.js';

/** startNats runs a JetStream nats-server with an `admin` and a `producer` user; resolves with its port. */
function startNats(cleanup: (() => Promise<unknown>)[], denied: string[]): Promise<number> {
  return startNatsServer(cleanup, {
    config: (store) => `jetstream { store_dir: ${JSON.stringify(store)} }
authorization {
  users: [
    { user: admin, password: admin }
    {
      user: producer, password: producer
      permissions: {
        publish: { allow: [">"], deny: ${JSON.stringify(denied)} }
        subscribe: { allow: [">"] }
      }
    }
  ]
}
`,
  });
}

describe('NATS publish denied by permissions', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  const name = uniqueName('denied');
  let port = 0;
  before(async () => {
    port = await startNats(cleanup, [`sp.q.${name}`, `sp.q.${name}.>`]);
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  const queueAs = (user: string, options: Partial<QueueOptions> = {}): Queue => {
    const queue = createQueue({
      backend: 'nats',
      servers: `127.0.0.1:${port}`,
      nats: { user, pass: user },
      ...options,
    } as QueueOptions);
    queue.on('error', () => {});
    cleanup.push(() => queue.close());
    return queue;
  };

  it('fails at once as not stored, not re-sent until publishTimeout "may still arrive"', async () => {
    // Only bounds how long the re-sending went on before the fix.
    const producer = queueAs('producer', { publishTimeout: 6_000 });
    for (const delay of [0, 60_000]) {
      const outcome = await producer.publish(name, 'job', { delay }).then(
        (stored) => stored,
        (error: unknown) => error,
      );
      console.log(`publish (delay ${delay}):`, outcome instanceof Error ? outcome.message : outcome);
      assert.ok(outcome instanceof QueueError, `rejects: ${JSON.stringify(outcome)}`);
      assert.equal(outcome.code, 'QUEUE_PUBLISH_FAILED', `not a timeout: ${outcome.code} ${outcome.message}`);
      assert.match(outcome.message, /permissions violation/i, 'says why (the server refused it)');
      assert.match(outcome.message, /not stored/, 'says the job was not stored');
      assert.ok(outcome.message.includes(`sp.q.${name}`), `names the subject: ${outcome.message}`);
    }
    const admin = queueAs('admin');
    const reading = await admin.depth(name);
    assert.deepEqual(
      { depth: reading.depth, delayed: reading.delayed },
      { depth: 0, delayed: 0 },
      'nothing was stored',
    );
    // The same connection still publishes where it may.
    const allowed = uniqueName('allowed');
    await producer.publish(allowed, 'job');
    assert.equal((await admin.depth(allowed)).depth, 1, 'a permitted publish is stored');
  });
});

// A user who may publish to the JetStream API and the queue subjects but may not subscribe to the
// reply inbox gets no JetStream reply: not a publish's PubAck, not stream or consumer info. The
// server says so (`Permissions Violation for Subscription to "_INBOX.<nuid>.*"`) and the client
// fails the waiting requests with it. Before, a publish rejected QUEUE_PUBLISH_FAILED "job … not
// stored" with the refusal only in its cause, and the metric read repeated the server's text, which
// names a subject of the client's making and no permission. Now both name the inbox and the
// subscribe permission the user needs, on the configured `inboxPrefix` when one is set. Shown on a
// nats-server of the test's own whose user `app` is refused `_INBOX.>` and `replies.>`. Before, the
// refused backend also kept its connection open past close(): this file's process never exited.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NatsSource } from '../../src/metrics/nats.js';
import { MetricSourceError } from '../../src/metrics/source.js';
import { createQueue, type Queue, QueueError, type QueueOptions } from '../../src/queue/index.js';
import { startNatsServer, startReloadableNatsServer } from '../helpers/nats-server.js';
import { uniqueName } from './helpers.js';

describe('NATS reply inbox denied by permissions', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  const name = uniqueName('inbox');
  let port = 0;
  before(async () => {
    port = await startNatsServer(cleanup, {
      config: (store) => `jetstream { store_dir: ${JSON.stringify(store)} }
authorization {
  users: [
    { user: admin, password: admin }
    {
      user: app, password: app
      permissions: {
        publish: { allow: ["$JS.API.>", "sp.q.>", "sp.dlq.>"] }
        subscribe: { allow: [">"], deny: ["_INBOX.>", "replies.>"] }
      }
    }
  ]
}
`,
    });
    // The streams exist, so the metric read below is refused its reply, not told "not found".
    const admin = queueAs('admin');
    await admin.publish(name, 'job');
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  function queueAs(user: string, options: Partial<QueueOptions> = {}, nats: object = {}): Queue {
    const queue = createQueue({
      backend: 'nats',
      servers: `127.0.0.1:${port}`,
      nats: { user, pass: user, ...nats },
      ...options,
    } as QueueOptions);
    queue.on('error', () => {});
    cleanup.push(() => queue.close());
    return queue;
  }

  for (const [label, nats, prefix] of [
    ['the default inbox', {}, '_INBOX'],
    ['an inboxPrefix of its own', { inboxPrefix: 'replies' }, 'replies'],
  ] as const) {
    it(`a publish on ${label} fails naming the inbox and the permission needed`, async () => {
      // Far past how long the test runs: a timeout would be QUEUE_PUBLISH_TIMEOUT, asserted against.
      const queue = queueAs('app', { publishTimeout: 20_000 }, nats);
      const outcome = await queue.publish(name, 'job').then(
        (stored) => stored,
        (error: unknown) => error,
      );
      console.log(`publish (${label}):`, outcome instanceof Error ? `${outcome.message}` : outcome);
      assert.ok(outcome instanceof QueueError, `rejects: ${JSON.stringify(outcome)}`);
      assert.equal(outcome.code, 'QUEUE_PUBLISH_FAILED', `not a timeout: ${outcome.code} ${outcome.message}`);
      assert.ok(
        outcome.message.includes(`subscribe permission on ${prefix}.>`),
        `names the permission: ${outcome.message}`,
      );
      assert.match(outcome.message, new RegExp(`reply inbox ${prefix}\\.\\w+\\.\\*`), 'names the inbox');
      assert.match(outcome.message, /Permissions Violation for Subscription/, "keeps the server's words");
    });
  }

  it('a metric read fails naming the inbox and the permission needed', async () => {
    const source = new NatsSource({
      url: `nats://app:app@127.0.0.1:${port}`,
      stream: `SP_${name}`,
      consumer: 'workers',
    });
    cleanup.push(() => source.close());
    const outcome = await source.read().then(
      (reading) => reading,
      (error: unknown) => error,
    );
    console.log('read:', outcome instanceof Error ? outcome.message : outcome);
    assert.ok(outcome instanceof MetricSourceError, `rejects: ${JSON.stringify(outcome)}`);
    assert.equal(outcome.code, 'SOURCE_FAILED');
    assert.ok(
      outcome.message.startsWith(`nats SP_${name}/workers: `),
      `names the source: ${outcome.message}`,
    );
    assert.ok(
      outcome.message.includes('subscribe permission on _INBOX.>'),
      `names the permission: ${outcome.message}`,
    );
    assert.match(outcome.message, /reply inbox _INBOX\.\w+\.\*/, 'names the inbox');
  });
});

// Permissions tightened while connected (a config reload): the connection already made its
// JetStream client, so the refusal reaches the publish itself. Before, it was re-sent (each time
// refused again) until publishTimeout and reported as QUEUE_PUBLISH_TIMEOUT.
describe('NATS reply inbox denied by a reload while connected', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });
  const config = (subscribe: string) => (store: string) =>
    `jetstream { store_dir: ${JSON.stringify(store)} }
authorization {
  users: [
    { user: app, password: app, permissions: { publish: { allow: [">"] }, subscribe: ${subscribe} } }
  ]
}
`;

  it('a publish fails at once as not confirmed, naming the inbox and the permission needed', async () => {
    const { port, reload } = await startReloadableNatsServer(cleanup, config('{ allow: [">"] }'));
    const queue = createQueue({
      backend: 'nats',
      servers: `127.0.0.1:${port}`,
      nats: { user: 'app', pass: 'app' },
      publishTimeout: 20_000,
    } as QueueOptions);
    cleanup.push(() => queue.close());
    const name = uniqueName('reload');
    await queue.publish(name, 'first');
    // The server drops the reply subscription it now refuses and says so: the connection's error.
    const refused = new Promise<QueueError>((resolve) =>
      queue.on('error', (error) => resolve(error as QueueError)),
    );
    await reload(config('{ allow: [">"], deny: ["_INBOX.>"] }'));
    console.log('error event:', (await refused).message);
    const outcome = await queue.publish(name, 'second').then(
      (stored) => stored,
      (error: unknown) => error,
    );
    console.log('publish after reload:', outcome instanceof Error ? outcome.message : outcome);
    assert.ok(outcome instanceof QueueError, `rejects: ${JSON.stringify(outcome)}`);
    assert.equal(outcome.code, 'QUEUE_PUBLISH_FAILED', `not a timeout: ${outcome.code} ${outcome.message}`);
    assert.match(outcome.message, /not confirmed \(it may have been stored\)/, 'says it may be stored');
    assert.ok(
      outcome.message.includes('subscribe permission on _INBOX.>'),
      `names the permission: ${outcome.message}`,
    );
  });
});

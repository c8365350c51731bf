// `nats: { inbox_prefix: replies }`: every JetStream request (stream and consumer info) takes its
// reply on the connection's inbox. The queue backend lets a user set it (`nats.inboxPrefix`), for
// NATS permissions that allow a user to subscribe only under a prefix of its own; the metric source
// always used the default `_INBOX`, so such a user's every read failed, refused the subscription.
// Now the `nats` metric takes `inbox_prefix` (NatsSource `inboxPrefix`) and connects with it.
// Shown on a nats-server of the test's own whose user `app` may subscribe only to `replies.>`.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AckPolicy, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import { createMetricSource, MetricSourceError, NatsSource } from '../../src/metrics/index.js';
import type { MetricSource } from '../../src/metrics/source.js';
import { workerScaledOn } from '../helpers/group-config.js';
import { startNatsServer } from '../helpers/nats-server.js';

/** worker is a group scaled on one nats metric given as its YAML flow mapping. */
const worker = (metric: string) => workerScaledOn(`nats: ${metric}`);

describe('NATS metric source on a user allowed only its own inbox prefix', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  let port = 0;
  before(async () => {
    port = await startNatsServer(cleanup, {
      config: (store) => `jetstream { store_dir: ${JSON.stringify(store)} }
authorization {
  users: [
    { user: admin, password: admin }
    {
      user: app, password: app
      permissions: { publish: { allow: ["$JS.API.>"] }, subscribe: { allow: ["replies.>"] } }
    }
  ]
}
`,
    });
    const nc = await connect({ servers: `127.0.0.1:${port}`, user: 'admin', pass: 'admin' });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'JOBS', subjects: ['JOBS.>'] });
      await jsm.consumers.add('JOBS', { durable_name: 'workers', ack_policy: AckPolicy.Explicit });
      for (let i = 0; i < 3; i++) await jsm.jetstream().publish('JOBS.job', String(i));
    } finally {
      await nc.close();
    }
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  /** read reads the source, closed after, as its values or its error. */
  const read = async (source: MetricSource) => {
    cleanup.push(() => source.close());
    return source.read({ group: 'workers', instances: [], now: 0 }).then(
      (values) => values,
      (error: unknown) => error,
    );
  };

  it('without the prefix, refused the default inbox; with it, reads the backlog', async () => {
    const url = `nats://app:app@127.0.0.1:${port}`;
    const refused = await read(new NatsSource({ url, stream: 'JOBS', consumer: 'workers' }));
    assert.ok(refused instanceof MetricSourceError, `default inbox refused: ${JSON.stringify(refused)}`);
    assert.ok(refused.message.includes('subscribe permission on _INBOX.>'), refused.message);
    const values = await read(
      new NatsSource({ url, stream: 'JOBS', consumer: 'workers', inboxPrefix: 'replies' }),
    );
    console.log(`inboxPrefix replies: ${values instanceof Error ? values.message : JSON.stringify(values)}`);
    assert.deepEqual(values, [3], 'the 3 waiting messages');
  });

  it('inbox_prefix in scaleplane.yaml reaches the source', async () => {
    const config = parseConfig(
      worker(
        `{ url: "nats://app:app@127.0.0.1:${port}", stream: JOBS, consumer: workers, inbox_prefix: replies, target: 5 }`,
      ),
      { baseDir: '/srv' },
    );
    const metric = config.groups.workers!.scaling!.metrics[0]!;
    assert.equal(metric.type === 'nats' && metric.inboxPrefix, 'replies');
    if (metric.type !== 'nats') return;
    const values = await read(createMetricSource(metric, {} as Parameters<typeof createMetricSource>[1]));
    console.log(`from the config: ${values instanceof Error ? values.message : JSON.stringify(values)}`);
    assert.deepEqual(values, [3]);
  });

  it('error: an inbox_prefix with a wildcard or an empty token, naming the key', () => {
    for (const prefix of ['"replies.>"', '"a..b"', '"*"']) {
      const error = (() => {
        try {
          parseConfig(worker(`{ stream: S, consumer: w, inbox_prefix: ${prefix}, target: 5 }`), {
            baseDir: '/srv',
          });
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      assert.ok(error instanceof ConfigError, `${prefix}: expected ConfigError, got ${String(error)}`);
      assert.deepEqual(
        error.issues.map((i) => i.path),
        ['groups.workers.scaling.metrics.0.nats.inbox_prefix'],
        prefix,
      );
      assert.match(error.issues[0]!.message, /none a wildcard/, prefix);
    }
  });
});

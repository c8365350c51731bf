import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { describe, it } from 'node:test';
import {
  type Alert,
  AlertManager,
  createAlertManager,
  deadLetterAlert,
  queueConnectionAlert,
  replicaAlert,
  watchQueue,
  watchReplicas,
  watchWorker,
} from '../../src/alerts/index.js';
import { createQueue } from '../../src/queue/index.js';

describe('library alert mappings', () => {
  it('a queue connection fires while lost and resolves when back', () => {
    assert.deepEqual(
      [
        queueConnectionAlert('jobs', { backend: 'rabbitmq', state: 'disconnected', error: 'ECONNRESET' }),
        queueConnectionAlert('jobs', { backend: 'rabbitmq', state: 'reconnecting', attempt: 2 }),
        queueConnectionAlert('jobs', { backend: 'rabbitmq', state: 'connected' }),
      ].map((a) => [a.action, a.key]),
      [
        ['fire', 'queue-connection:jobs'],
        ['fire', 'queue-connection:jobs'],
        ['resolve', 'queue-connection:jobs'],
      ],
    );
  });

  it('a dead letter fires once per queue', () => {
    const a = deadLetterAlert({ id: 'j1', queue: 'emails', attempt: 3, error: 'smtp down' });
    assert.equal(a.action, 'fire');
    assert.equal(a.key, 'dead-letter:emails');
  });

  const replicaCases: [string, string | undefined, string | undefined][] = [
    ['FallbackStarted', 'fire', 'replica-fallback:db'],
    ['FallbackEnded', 'resolve', 'replica-fallback:db'],
    ['ReplicaExcluded', 'fire', 'replica-excluded:db:r1'],
    ['ReplicaRestored', 'resolve', 'replica-excluded:db:r1'],
    ['ReplicaAdmitted', 'resolve', 'replica-excluded:db:r1'],
    ['PrimaryUnreachable', 'fire', 'replica-primary:db'],
    ['PrimaryRestored', 'resolve', 'replica-primary:db'],
    ['PrimaryReadOnly', 'fire', 'replica-primary-read-only:db'],
    ['PrimaryWritable', 'resolve', 'replica-primary-read-only:db'],
    ['PrimaryReplaced', 'notify', 'replica-primary-replaced:db'],
    ['ReadRetried', undefined, undefined],
  ];
  for (const [kind, action, key] of replicaCases) {
    it(`replica ${kind} → ${action ?? 'nothing'}`, () => {
      const a = replicaAlert({ router: 'db', kind, replica: 'r1', reasons: ['LagOverMax'], message: 'm' });
      assert.deepEqual([a?.action, a?.key], [action, key]);
    });
  }
});

describe('replica router decisions through an AlertManager', () => {
  it('a primary replaced behind the router notifies, critical, and the next replacement notifies again', async () => {
    const sent: Alert[] = [];
    const alerts = new AlertManager({ sinks: [{ name: 'capture', send: async (a) => void sent.push(a) }] });
    const router = new EventEmitter();
    const stop = watchReplicas(alerts, router);
    const replaced = (before: string, now: string) =>
      router.emit('decision', {
        router: 'db',
        at: 0,
        kind: 'PrimaryReplaced',
        reasons: ['PrimaryReplaced', 'WriteLanded'],
        message: `a write landed on another server behind the primary's address (${before} before, ${now} now)`,
      });
    replaced('server_id 1', 'server_id 2');
    replaced('server_id 2', 'server_id 3');
    stop();
    await alerts.close();
    assert.deepEqual(
      sent.map((a) => [a.key, a.status, a.severity]),
      [
        ['replica-primary-replaced:db', 'firing', 'critical'],
        ['replica-primary-replaced:db', 'resolved', 'critical'],
        ['replica-primary-replaced:db', 'firing', 'critical'],
        ['replica-primary-replaced:db', 'resolved', 'critical'],
      ],
    );
    assert.match(sent[2]!.summary, /server_id 2 before, server_id 3 now/);
    assert.equal(alerts.isFiring('replica-primary-replaced:db'), false, 'nothing left firing to repeat');
  });
});

describe('library alerts on a real queue (Redis Streams)', () => {
  it('a job dead-lettered by a worker fires an alert; the watcher detaches cleanly', async (t) => {
    const alerts = createAlertManager(undefined);
    const queue = createQueue({ backend: 'redis', redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
    const name = `alerts-dlq-${process.pid}-${Date.now()}`;
    t.after(async () => {
      await queue.destroy(name).catch(() => {});
      await queue.close();
      await alerts.close();
    });
    const stopQueue = watchQueue(alerts, queue, name);
    const worker = queue.worker(
      name,
      async () => {
        throw new Error('always fails');
      },
      { retries: 0 },
    );
    // A failed assertion must not leave the worker reading (close is idempotent).
    t.after(() => worker.close());
    const stopWorker = watchWorker(alerts, worker);
    // Listen before publishing: the worker is already reading and may dead-letter the job first.
    const deadLettered = once(worker, 'dead-lettered');
    await queue.publish(name, { n: 1 }, { id: 'doomed' });
    await deadLettered;
    assert.ok(alerts.isFiring(`dead-letter:${name}`), `dead-letter:${name} firing`);
    assert.equal(alerts.isFiring(`queue-connection:${name}`), false);
    stopWorker();
    stopQueue();
    assert.equal(worker.listenerCount('dead-lettered'), 0);
    assert.equal(queue.listenerCount('connection'), 0);
    await worker.close();
  });
});

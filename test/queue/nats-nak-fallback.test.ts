// A NATS worker hands a job back, or retries it later, by publishing a copy and acking the old one;
// when that publish fails it falls back to a nak. Before, silently: a hand-back's nak spends one of
// the job's deliveries (its next run counts one attempt more), a retry's keeps it counted as pending
// through its backoff, and nothing said so. Now each fallback is a QUEUE_BACKEND error on the queue,
// naming the job and "nak", and the job is still delivered again. The publish fails on a
// nats-server of the test's own (kernel-chosen port, JetStream in a temp dir) whose user `worker`
// may not publish to one queue's delayed subjects (the retry's copy) and another queue's own
// subject (the hand-back's copy); `admin` publishes the jobs and may do anything.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createQueue, type Queue, QueueError, type QueueOptions } from '../../src/queue/index.js';
import { startNatsServer } from '../helpers/nats-server.js';
import { within } from '../helpers/until.js';
import { uniqueName } from './helpers.js';

describe('NATS hand-back and retry falling back to a nak', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  const retried = uniqueName('nak-retry');
  const handedBack = uniqueName('nak-back');
  let port = 0;
  before(async () => {
    const denied = [`sp.q.${retried}.d.*`, `sp.q.${handedBack}`];
    port = await startNatsServer(cleanup, {
      config: (store) => `jetstream { store_dir: ${JSON.stringify(store)} }
authorization {
  users: [
    { user: admin, password: admin }
    {
      user: worker, password: worker
      permissions: {
        publish: { allow: [">"], deny: ${JSON.stringify(denied)} }
        subscribe: { allow: [">"] }
      }
    }
  ]
}
`,
    });
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  /** queueAs connects as `user`; `errors` collects what the queue reports. */
  const queueAs = (user: string): { queue: Queue; errors: QueueError[] } => {
    const queue = createQueue({
      backend: 'nats',
      servers: `127.0.0.1:${port}`,
      nats: { user, pass: user },
    } as QueueOptions);
    const errors: QueueError[] = [];
    queue.on('error', (error: QueueError) => errors.push(error));
    cleanup.push(() => queue.close());
    return { queue, errors };
  };

  /** nakReports are the reports of a nak fallback for `id` (the server's permission error aside). */
  const nakReports = (errors: QueueError[], id: string) =>
    errors.filter((e) => e instanceof QueueError && e.message.includes(id) && /\bnak\b/.test(e.message));

  it('a retry whose delayed copy cannot be published is naked with its delay, and says so', async () => {
    const admin = queueAs('admin');
    const { queue, errors } = queueAs('worker');
    const attempts: number[] = [];
    let completed!: () => void;
    const done = new Promise<void>((resolve) => {
      completed = resolve;
    });
    const worker = queue.worker(
      retried,
      (_payload, job) => {
        attempts.push(job.attempt);
        if (job.attempt === 1) throw new Error('first attempt fails');
        completed();
      },
      { retries: 1, backoff: { initial: 300, factor: 1, max: 300, jitter: 0 } },
    );
    cleanup.push(() => worker.close());
    await worker.ready;
    await admin.queue.publish(retried, 'job', { id: 'retried-1' });
    await within('the retry run', 10_000, done);
    assert.deepEqual(attempts, [1, 2], 'delivered again after the nak, as attempt 2');
    const reports = nakReports(errors, 'retried-1');
    console.log('reported:', reports.map((e) => `${e.code} ${e.message}`).join(' | ') || '(nothing)');
    assert.equal(reports.length, 1, `one report of the nak: ${errors.map((e) => e.message).join(' | ')}`);
    assert.equal(reports[0]!.code, 'QUEUE_BACKEND');
    assert.ok(
      reports[0]!.message.includes(`sp.q.${retried}.d.`),
      'names the subject it could not publish to',
    );
    assert.match(reports[0]!.message, /permissions violation/i, 'says why the publish failed');
  });

  it('a hand-back whose copy cannot be published is naked, and says so; the job runs again', async () => {
    const admin = queueAs('admin');
    const { queue, errors } = queueAs('worker');
    let started!: () => void;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    let finish!: () => void;
    const held = new Promise<void>((resolve) => {
      finish = resolve;
    });
    cleanup.push(async () => finish());
    const first = queue.worker(
      handedBack,
      async () => {
        started();
        await held;
      },
      { closeTimeout: 100 },
    );
    await first.ready;
    await admin.queue.publish(handedBack, 'job', { id: 'handed-back-1' });
    await within('the first run', 10_000, running);
    // Closing while the handler runs hands its job back: its copy to sp.q.<queue> is denied.
    await first.close();
    const reports = nakReports(errors, 'handed-back-1');
    console.log('reported:', reports.map((e) => `${e.code} ${e.message}`).join(' | ') || '(nothing)');
    assert.equal(reports.length, 1, `one report of the nak: ${errors.map((e) => e.message).join(' | ')}`);
    assert.equal(reports[0]!.code, 'QUEUE_BACKEND');
    assert.ok(
      reports[0]!.message.includes(`sp.q.${handedBack}`),
      'names the subject it could not publish to',
    );
    assert.match(reports[0]!.message, /attempt 2/, 'says the next run counts one attempt more');

    let rerun!: (attempt: number) => void;
    const again = new Promise<number>((resolve) => {
      rerun = resolve;
    });
    const second = admin.queue.worker(handedBack, (_payload, job) => rerun(job.attempt));
    cleanup.push(() => second.close());
    const attempt = await within('the job delivered again', 10_000, again);
    assert.equal(attempt, 2, 'delivered again, the nak having spent a delivery');
  });
});

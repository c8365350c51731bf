// A RabbitMQ worker that loses its connection while a handler runs gets the job taken back by the
// broker at once (its channel closed): the job is delivered again, after the reconnect, to this
// worker or another. When the first handler then fails, its retry must not publish a copy: the
// job is already on its way to another run, and the copy was a third run of it (and, with a
// handler that succeeds the second time, a second completion). The same holds for a dead letter
// and for a hand-back at close(). The connection is cut by a proxy, as a network fault would.
// The first run's signal is aborted as its channel closes, so the worker settles nothing of it.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createQueue, type JobEvent, type QueueError, UnrecoverableError } from '../../src/queue/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import { uniqueName, waitFor } from './helpers.js';

const fixed = { initial: 50, factor: 1, max: 50, jitter: 0 };

async function setup(tag: string) {
  const proxy = await pausableProxy(5672);
  const queue = createQueue({
    backend: 'rabbitmq',
    url: `amqp://guest:guest@127.0.0.1:${proxy.port}`,
    ...(process.env.RABBITMQ_QUEUE_TYPE === 'classic' ? { queueType: 'classic' as const } : {}),
    reconnect: { initial: 50, factor: 2, max: 400, jitter: 0.5 },
  });
  const name = uniqueName(tag);
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
    await proxy.close();
  });
  return { proxy, queue, name };
}

for (const failure of ['retry', 'dead-letter'] as const) {
  test(`a handler failing after its connection was lost does not ${failure} a job the broker already redelivered (RabbitMQ)`, async () => {
    const { proxy, queue, name } = await setup(`lost-${failure}`);
    const runs: number[] = [];
    const completed: number[] = [];
    let failFirst!: () => void;
    const firstFails = new Promise<void>((resolve) => {
      failFirst = resolve;
    });
    let markerDone!: () => void;
    const marker = new Promise<void>((resolve) => {
      markerDone = resolve;
    });
    const worker = queue.worker(
      name,
      async (payload, job) => {
        if (payload === 'marker') return markerDone();
        runs.push(job.attempt);
        if (runs.length > 1) return;
        await firstFails;
        throw failure === 'retry' ? new Error('first run fails') : new UnrecoverableError('first run fails');
      },
      { retries: 3, backoff: fixed },
    );
    worker.on('completed', (e: { id: string; attempt: number }) => {
      if (e.id === 'job-1') completed.push(e.attempt);
    });
    // Told through its signal that the broker took the job back, the worker settles nothing of
    // the first run (before, it tried and failed QUEUE_ACK_FAILED) and reports it abandoned.
    const firstAbandoned = new Promise<JobEvent>((resolve) => worker.once('abandoned', resolve));
    const settleErrors: QueueError[] = [];
    worker.on('error', (error: QueueError) => settleErrors.push(error));
    await worker.ready;
    await queue.publish(name, 'job', { id: 'job-1' });
    await waitFor(() => runs.length === 1, 'the first run');
    // The link fails with the handler running: the broker takes the job back and, once the worker
    // has reconnected, delivers it again.
    proxy.hold();
    proxy.dropHeld();
    await waitFor(() => completed.length === 1, 'the redelivered job to complete', 20_000);
    failFirst();
    const abandoned = await firstAbandoned;
    assert.equal(abandoned.attempt, 1, 'the first run is the one abandoned');
    // A job published after the failure through the same delay queue as a retry runs after a
    // retry copy would have: once it has run, any copy has.
    await queue.publish(name, 'marker', { delay: 50 });
    await marker;
    if (failure === 'dead-letter') {
      const letters = await queue.dlq(name).list();
      assert.deepEqual(
        letters.map((l) => l.job.id),
        [],
        'a job that then completed is not also a dead letter',
      );
    }
    assert.deepEqual(runs, [1, 2], 'the job ran at the loss and once after it, not a third time');
    assert.deepEqual(completed, [2], 'the job completed once');
    assert.deepEqual(
      settleErrors.filter((e) => e.code === 'QUEUE_ACK_FAILED').map((e) => e.message),
      [],
      'no settle of the first run was tried',
    );
    await worker.close();
  });
}

test('close() does not hand back a job whose connection was lost: the broker already did (RabbitMQ)', async () => {
  const { proxy, queue, name } = await setup('lost-release');
  const runs: number[] = [];
  let markerDone!: () => void;
  const marker = new Promise<void>((resolve) => {
    markerDone = resolve;
  });
  const never = new Promise<void>(() => {});
  const first = queue.worker(
    name,
    async (_payload, job) => {
      runs.push(job.attempt);
      await never;
    },
    { closeTimeout: 0 },
  );
  await first.ready;
  await queue.publish(name, 'job', { id: 'job-1' });
  await waitFor(() => runs.length === 1, 'the first run');
  proxy.hold();
  proxy.dropHeld();
  // Reconnected, the worker is given the job again (stalled once) and runs it beside the first run.
  await waitFor(() => runs.length === 2, 'the redelivery', 20_000);
  // Both runs outlive closeTimeout: the redelivery is handed back, the first run is the broker's.
  await first.close();
  const second = queue.worker(name, async (payload, job) => {
    if (payload === 'marker') return markerDone();
    runs.push(job.attempt);
  });
  await queue.publish(name, 'marker');
  await marker;
  assert.deepEqual(runs, [1, 2, 2], 'the job handed back once runs once more, not twice');
  await second.close();
});

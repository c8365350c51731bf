// A worker's dedup store is a second service (Redis) that can fail on its own. Before, a failed
// `isDone` or `markDone` threw out of the worker's processing with the job neither acked, retried
// nor handed back, while the backend kept extending its lease (Redis heartbeat, NATS `working()`,
// RabbitMQ's unacked delivery on a live channel): the job stayed in flight for as long as the
// worker lived, never run again, never dead-lettered, and held a handler slot (with concurrency 1
// the worker took no other job). Now a failed `isDone` is a failed attempt (retried, then
// dead-lettered with the store's error), and a failed `markDone` is reported while the job, whose
// work is done, is acked.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { type BackendName, createQueue, type DedupStore, type QueueError } from '../../src/queue/index.js';
import { backendOptions, uniqueName, waitFor } from './helpers.js';

const unreachable = () => Promise.reject(new Error('dedup store unreachable'));

for (const backend of ['redis', 'nats', 'rabbitmq'] as BackendName[]) {
  const setup = (tag: string) => {
    const queue = createQueue(backendOptions(backend));
    const name = uniqueName(tag);
    after(async () => {
      await queue.destroy(name).catch(() => {});
      await queue.close();
    });
    return { queue, name };
  };

  test(`a dedup store that cannot answer isDone fails the attempt: retried, then dead-lettered (${backend})`, async () => {
    const { queue, name } = setup('dedup-isdone');
    const dedup: DedupStore = { isDone: unreachable, async markDone() {} };
    const dead: { reason: string; error: string; attempt: number }[] = [];
    const ran: number[] = [];
    const worker = queue.worker(name, (_payload, job) => void ran.push(job.attempt), {
      dedup,
      retries: 1,
      backoff: { initial: 20, factor: 1, max: 20, jitter: 0 },
      stallTimeout: 1000,
    });
    worker.on('dead-lettered', (e: { reason: string; error: string; attempt: number }) => dead.push(e));
    await queue.publish(name, 'job');
    await waitFor(() => dead.length === 1, 'the job to be dead-lettered').catch(async () =>
      assert.fail(`no dead letter; the queue reads ${JSON.stringify(await queue.depth(name))}`),
    );
    assert.deepEqual(ran, [], 'the handler never ran: the store could not say the job was not done');
    assert.equal(dead[0]?.reason, 'RetriesExhausted');
    assert.equal(dead[0]?.attempt, 2, 'dead-lettered after its one retry');
    assert.match(dead[0]?.error ?? '', /dedup store.*dedup store unreachable/);
    await worker.close();
  });

  test(`a dedup store that cannot mark a job done does not keep it in flight: it is acked, the failure reported (${backend})`, async () => {
    const { queue, name } = setup('dedup-markdone');
    const dedup: DedupStore = { isDone: async () => false, markDone: unreachable };
    const errors: QueueError[] = [];
    const completed: string[] = [];
    const worker = queue.worker(name, () => {}, { dedup, stallTimeout: 1000 });
    worker.on('error', (e: QueueError) => errors.push(e));
    worker.on('completed', (e: { id: string }) => completed.push(e.id));
    const { id } = await queue.publish(name, 'job');
    await waitFor(() => completed.length === 1, 'the job to complete').catch(async () =>
      assert.fail(`not completed; the queue reads ${JSON.stringify(await queue.depth(name))}`),
    );
    assert.deepEqual(completed, [id]);
    assert.ok(
      errors.some(
        (e) => e.code === 'QUEUE_BACKEND' && e.message.includes(id) && /dedup store/.test(e.message),
      ),
      `the failed mark is reported naming the job: ${errors.map((e) => e.message)}`,
    );
    await waitFor(
      async () => (await queue.depth(name)).depth + ((await queue.depth(name)).pending ?? 0) === 0,
      'an empty queue',
    );
    await worker.close();
  });
}

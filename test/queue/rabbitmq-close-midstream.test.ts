// Scale-in on RabbitMQ: a worker (concurrency 50) closed while jobs stream through it, its process
// then gone (its queue closed), twice in a row, and a third worker finishing the queue. Every job
// must run exactly once, as attempt 1, and none be dead-lettered: a job handed back costs no
// attempt and is no stall. Before, per close: deliveries on their way when the consumer was
// cancelled went back to the quorum queue counted (attempt 2, a stall, unseen by the worker);
// hand-backs of deliveries that reached the closing worker were not awaited, so the connection
// closed under them; and acks past the channel's quorum command limit were held back unsent by
// the broker's channel and lost with the connection (the job ran twice, its second run attempt 2).
// With maxStalls 1, a job so counted at two scale-ins was dead-lettered unrun.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createQueue, type Queue } from '../../src/queue/index.js';
import { consumerLanes } from '../../src/queue/rabbitmq/lanes.js';
import { backendOptions, uniqueName } from './helpers.js';

const JOBS = 300;
const CONCURRENCY = 50;
/** Runs after which the first and the second worker are closed. */
const CLOSE_AT = [100, 200];

test('workers closed mid-stream hand every job back once, at no attempt (RabbitMQ)', {
  timeout: 60_000,
}, async () => {
  const name = uniqueName('close-midstream');
  const producer = createQueue(backendOptions('rabbitmq'));
  const opened: Queue[] = [producer];
  after(async () => {
    await Promise.all(opened.map((q) => q.close()));
    const cleanup = createQueue(backendOptions('rabbitmq'));
    await cleanup.destroy(name).catch(() => {});
    await cleanup.close();
  });

  const runs = new Map<string, number[]>();
  const deadLettered: string[] = [];
  const errors: string[] = [];
  let totalRuns = 0;
  /** The test's wait: resolved by the handler or a dead letter once its condition holds. */
  let waiter: { done: () => boolean; resolve: () => void } | undefined;
  const progress = () => {
    if (waiter?.done()) waiter.resolve();
  };
  const until = (done: () => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 30_000);
      waiter = {
        done,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      progress();
    });
  const handler = async (_payload: unknown, job: { id: string; attempt: number }) => {
    const attempts = runs.get(job.id) ?? [];
    attempts.push(job.attempt);
    runs.set(job.id, attempts);
    totalRuns++;
    progress();
    // A few ms of work, different per job, so acks come out of delivery order as in production.
    await new Promise((r) => setTimeout(r, (Number(job.id.slice(4)) * 7) % 11));
  };
  const startWorker = async () => {
    const queue = createQueue(backendOptions('rabbitmq'));
    opened.push(queue);
    queue.on('error', (e: Error) => errors.push(e.message));
    const worker = queue.worker(name, handler, { concurrency: CONCURRENCY, maxStalls: 1 });
    worker.on('dead-lettered', (e: { id: string }) => {
      deadLettered.push(e.id);
      progress();
    });
    await worker.ready;
    return { queue, worker };
  };

  let current = await startWorker();
  await Promise.all(Array.from({ length: JOBS }, (_, i) => producer.publish(name, i, { id: `job-${i}` })));
  for (const at of CLOSE_AT) {
    await until(() => totalRuns >= at, `${at} runs`);
    // Scale-in: close the worker gracefully, then its process's queue, then start a new one.
    await current.worker.close();
    await current.queue.close();
    current = await startWorker();
  }
  // The jobs left (and any second copy) come to the last worker. Closed once each job ran or was
  // dead-lettered, it runs what it holds or hands it back: a copy still queued then shows in depth.
  await until(() => runs.size + deadLettered.length >= JOBS, `all ${JOBS} jobs to run`);
  await current.worker.close();
  const depth = await producer.depth(name);

  const twice = [...runs].filter(([, a]) => a.length > 1).map(([id, a]) => `${id} ${a.join('/')}`);
  const later = [...runs].filter(([, a]) => a.some((n) => n !== 1)).map(([id, a]) => `${id} ${a.join('/')}`);
  const never = Array.from({ length: JOBS }, (_, i) => `job-${i}`).filter((id) => !runs.has(id));
  assert.deepEqual(
    deadLettered,
    [],
    `jobs dead-lettered unrun at their worker's stall limit: ${deadLettered.join(', ')}`,
  );
  assert.deepEqual(never, [], `${never.length} jobs never ran: ${never.slice(0, 10).join(', ')}`);
  assert.deepEqual(
    twice,
    [],
    `${twice.length} jobs ran more than once (attempts): ${twice.slice(0, 10).join(', ')}`,
  );
  assert.deepEqual(
    later,
    [],
    `${later.length} jobs ran as a later attempt (a hand-back counted as a stall): ${later.slice(0, 10).join(', ')}`,
  );
  assert.equal(
    depth.depth,
    0,
    `${depth.depth} jobs still waiting on the queue after all ran (copies of jobs that ran)`,
  );
  assert.deepEqual(await producer.dlq(name).list(), [], 'the dead-letter queue is empty');
  assert.deepEqual(errors, [], 'no queue errors');
});

test('consumerLanes keeps each consumer channel under the quorum command limit, split evenly', () => {
  const cases: [number, number[]][] = [
    [1, [1]],
    [25, [25]],
    [26, [13, 13]],
    [50, [25, 25]],
    [51, [17, 17, 17]],
    [60, [20, 20, 20]],
  ];
  for (const [concurrency, lanes] of cases)
    assert.deepEqual(consumerLanes(concurrency), lanes, `lanes of concurrency ${concurrency}`);
});

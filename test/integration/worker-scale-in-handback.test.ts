// A worker group on the default timings (stop_timeout 10 s here cut to 3 s to keep the test short,
// the worker's closeTimeout left unset) scaled in while its jobs run longer than stop_timeout: the
// worker must hand them back before the SIGKILL. Before, closeTimeout (30 s) outlasted stop_timeout,
// the SIGKILL ended the handlers, and the jobs came back only after stallTimeout, each counted a
// stall (two such scale-ins dead-lettered a job unrun). Real Redis Streams, real processes.
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import { createQueue } from '../../src/queue/index.js';
import { settled, startInProcess } from '../helpers/scaleplane.js';
import { until } from '../helpers/until.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures');
const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('a worker group scaled in while its jobs outlast stop_timeout', () => {
  let app: Scaleplane | undefined;
  const queueName = `handback-${process.pid}-${Date.now()}`;
  const queue = createQueue({ backend: 'redis', redis: REDIS });
  after(async () => {
    await app?.close();
    await queue.destroy(queueName).catch(() => {});
    await queue.close();
  });

  it('hands the running jobs back before the SIGKILL: they run again at once, not stalled', async () => {
    app = await startInProcess(
      `
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0 }
groups:
  workers:
    role: worker
    command: node --import tsx queue-worker.ts
    cwd: ${FIXTURES}
    env: { QUEUE_NAME: "${queueName}", REDIS_URL: "${REDIS}", JOB_MS: "120000" }
    stop_timeout: 3s
    min_instances: 0
    max_instances: 1
    initial_instances: 1
`,
      FIXTURES,
    );
    await settled(app, 'workers', 1, 15_000);
    await queue.publish(queueName, 'a', { id: 'job-a' });
    await queue.publish(queueName, 'b', { id: 'job-b' });
    await until(
      async () => {
        const { depth, pending } = await queue.depth(queueName);
        return depth === 0 && pending === 2;
      },
      15_000,
      'both jobs running on the instance',
    );
    app.controller.scale('workers', 'set', 0, 'test');
    await settled(app, 'workers', 0, 15_000);
    // The jobs handed back wait in the queue, delivered to no one; killed with the worker, they
    // would still be pending (delivered to the dead consumer) until stallTimeout (30 s).
    const reading = await queue.depth(queueName);
    assert.deepEqual(
      { depth: reading.depth, pending: reading.pending },
      { depth: 2, pending: 0 },
      'after the scale-in, the jobs are back in the queue (not left pending on the killed worker)',
    );
    const runs: string[] = [];
    const worker = queue.worker(queueName, (payload, job) => {
      runs.push(`${String(payload)}:${job.attempt}`);
    });
    await until(() => runs.length === 2, 10_000, 'both jobs ran again');
    await worker.close();
    assert.deepEqual(runs.sort(), ['a:1', 'b:1'], 'each ran again as attempt 1');
  });
});

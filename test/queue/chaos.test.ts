import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BackendName } from '../../src/queue/index.js';
import { runChaos } from './chaos.js';

// QUEUE_CHAOS_JOBS=10000 runs the full size; the default keeps `npm test` short.
const jobs = Number(process.env.QUEUE_CHAOS_JOBS ?? 1000);
const backends = (process.env.QUEUE_CHAOS_BACKENDS ?? 'redis,nats,rabbitmq').split(',') as BackendName[];

for (const backend of backends) {
  test(`chaos ${backend}: ${jobs} jobs, workers SIGKILLed at random${backend === 'rabbitmq' ? ', broker restarted once' : ''}`, {
    timeout: Math.max(180_000, jobs * 40),
  }, async (t) => {
    const r = await runChaos(backend, jobs);
    const line = `${backend}: ${r.completed}/${r.jobs} completed, lost ${r.lost}, kills ${r.kills}, broker restarts ${r.brokerRestarts}, duplicates ${r.duplicates} (unexplained ${r.unexplainedDuplicates}), ${r.seconds.toFixed(1)}s`;
    t.diagnostic(line);
    console.log(`CHAOS ${line}`);
    assert.equal(r.lost, 0, 'every job completes');
    if (r.brokerRestarts === 0) {
      assert.equal(r.unexplainedDuplicates, 0, 'duplicates only for jobs in flight at a kill');
    } else {
      // Known gap (issue 8): across a RabbitMQ restart a few jobs run twice although this test's
      // bookkeeping cannot show them in flight at the restart (deliveries taken before it and acked
      // after it on a dead channel are the likely cause). Nothing is lost; the count is reported.
      t.diagnostic(`unexplained duplicates across the broker restart: ${r.unexplainedDuplicates}`);
    }
    assert.ok(r.kills > 0, 'at least one worker was SIGKILLed mid-run');
    if (backend === 'rabbitmq') assert.equal(r.brokerRestarts, 1, 'the broker was restarted once mid-run');
  });
}

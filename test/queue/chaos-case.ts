import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BackendName } from '../../src/queue/index.js';
import { runChaos } from './chaos.js';

// QUEUE_CHAOS_JOBS=10000 runs the issue's full size; the default keeps `npm test` short.
// QUEUE_CHAOS_TRACE=DIR writes every AMQP delivery, ack and publish confirm of every process there.
const jobs = Number(process.env.QUEUE_CHAOS_JOBS ?? 1000);

/**
 * chaosCase registers the chaos test of one backend. One file per backend: each file gets its own
 * 5-minute budget from scripts/run-tests.mjs, which a 10,000-job run of all three would exceed.
 */
export function chaosCase(backend: BackendName): void {
  test(`chaos ${backend}: ${jobs} jobs, workers SIGKILLed at random${backend === 'rabbitmq' ? ', broker restarted once' : ''}`, {
    // Inside the file's 5-minute budget, so a slow run fails here with its own message.
    timeout: 290_000,
  }, async (t) => {
    const r = await runChaos(backend, jobs);
    const line =
      `${backend}: ${r.completed}/${r.jobs} completed, lost ${r.lost}, kills ${r.kills}, ` +
      `broker restarts ${r.brokerRestarts}${r.brokerRestarts ? ` (at ${r.publishedAtRestart} published)` : ''}, ` +
      `publisher connection losses ${r.publisherConnectionLosses}, ` +
      `publishes re-sent ${r.republished}, duplicates ${r.duplicates} = in flight at a kill ${r.inFlightAtKill}` +
      ` + in flight at the broker restart ${r.inFlightAtRestart} + published twice ${r.publishedTwice}` +
      ` + unexplained ${r.unexplainedDuplicates}, ${r.seconds.toFixed(1)}s`;
    t.diagnostic(line);
    console.log(`CHAOS ${line}`);
    assert.equal(r.lost, 0, 'every job completes');
    assert.deepEqual(
      r.unexplainedIds,
      [],
      'every duplicate was in flight at a kill or the restart, or published twice',
    );
    assert.ok(r.kills > 0, 'at least one worker was SIGKILLed mid-run');
    if (backend === 'rabbitmq') {
      assert.equal(r.brokerRestarts, 1, 'the broker was restarted once mid-run');
      assert.ok(r.publishedAtRestart! < r.jobs, 'publishing was still going on at the restart');
    }
  });
}

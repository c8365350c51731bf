// Issue 8, acceptance 3: a worker group scales from 0 to N as a backlog builds in Redis Streams and
// back to 0 once it drains, with depth-based decisions in the journal. Real Redis, real processes.
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import { createQueue, redisKeys } from '../../src/queue/index.js';
import { nextEntry, settled, startInProcess } from '../helpers/scaleplane.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures');
const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('a worker group scaled on queue depth', () => {
  let app: Scaleplane | undefined;
  const queueName = `depth-${process.pid}-${Date.now()}`;
  const queue = createQueue({ backend: 'redis', redis: REDIS });
  after(async () => {
    await app?.close();
    await queue.destroy(queueName).catch(() => {});
    await queue.close();
  });

  it('goes 0 → N while a backlog builds and back to 0 when it drains', async () => {
    const stream = redisKeys('sp', queueName).stream;
    app = await startInProcess(
      `
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0 }
controller: { interval: 500ms }
groups:
  workers:
    role: worker
    command: node --import tsx queue-worker.ts
    cwd: ${FIXTURES}
    env: { QUEUE_NAME: "${queueName}", REDIS_URL: "${REDIS}", JOB_MS: "40" }
    min_instances: 0
    max_instances: 3
    scaling:
      metrics:
        - redis: { url: "${REDIS}", key: "${stream}", group: workers, target: 50 }
      activation: { threshold: 0, cooldown: 2s }
      behavior:
        scale_down: { stabilization_window: 1s }
`,
      FIXTURES,
    );
    assert.equal(app.controller.group('workers').desired(), 0, 'nothing runs while the queue is empty');

    const out = nextEntry(
      app,
      (e) => e.group === 'workers' && e.source === 'policy' && e.after > e.before,
      20_000,
    );
    await Promise.all(
      Array.from({ length: 400 }, (_, i) => queue.publish(queueName, { i }, { id: `job-${i}` })),
    );
    const scaledOut = await out;
    assert.equal(scaledOut.before, 0);
    const metric = (scaledOut.inputs.metrics as { name: string; average: number }[])[0]!;
    assert.equal(metric.name, 'redis');
    assert.ok(metric.average > 0, `backlog seen: ${metric.average}`);

    const backToZero = await nextEntry(
      app,
      (e) => e.group === 'workers' && e.source === 'policy' && e.after === 0,
      60_000,
    );
    assert.ok(backToZero.before > 0, 'backToZero.before > 0');
    await settled(app, 'workers', 0, 20_000);
    const depth = await queue.depth(queueName);
    assert.equal(depth.depth + (depth.pending ?? 0), 0, 'every job was done before the workers stopped');
    const journal = app.controller
      .events({ group: 'workers' })
      .map((e) => `${e.before}→${e.after} ${e.reasons.join(',')}`);
    console.log(`worker group journal: ${journal.join(' | ')}`);
  });
});

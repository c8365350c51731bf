// An AWS group scaled on `cpu` (CloudWatch, 1–3 min behind) and a queue (Redis LLEN) at once: the
// larger proposal wins, and a CloudWatch gap (no complete datapoint) is a missing metric, as the
// HPA treats one: the queue may scale the group out, never in, and never to zero. Before, the
// activation stage (KEDA's scale to zero) took the queue alone as the group's activity when the
// CPU could not be read: an empty queue scaled a group whose CPU nobody knew to zero. Against
// AwsServer (see aws-server.ts) through the real SDK clients, and the local Redis.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import type { Scaleplane } from '../../src/app.js';
import { startInProcess } from '../helpers/scaleplane.js';
import { until } from '../helpers/until.js';
import { AwsServer } from './aws-server.js';

process.env.AWS_ACCESS_KEY_ID ??= 'AKIDTEST';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test-secret';

const MINUTE = 60_000;
/** The start of the last whole minute: CloudWatch's newest complete 60-s period. */
const lastCompleteMinute = () => Math.floor(Date.now() / MINUTE) * MINUTE - MINUTE;

/**
 * mixedGroup runs Scaleplane with one AWS worker group of 2 instances (0..6) scaled on cpu 50 and
 * the length of Redis list `key` (100 a worker), with `extra` scaling keys.
 */
async function mixedGroup(t: TestContext, server: AwsServer, key: string, extra = ''): Promise<Scaleplane> {
  const app = await startInProcess(`
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0 }
controller: { interval: 200ms }
groups:
  web:
    provider: aws
    role: worker
    auto_scaling_group: web-asg
    region: us-east-1
    endpoint: ${server.url}
    instance_warmup: 0s
    poll_interval: 50ms
    min_instances: 0
    max_instances: 6
    initial_instances: 2
    scaling:
      metrics:
        - cpu: { target: 50 }
        - redis: { url: redis://127.0.0.1:6379, key: ${key}, target: 100 }
      behavior:
        scale_down: { stabilization_window: 0s }
${extra}
`);
  t.after(async () => {
    await app.close();
    await server.close();
  });
  return app;
}

async function fake(instances: number): Promise<AwsServer> {
  const server = new AwsServer();
  await server.start();
  server.addInstances(instances);
  return server;
}

/** emptyQueue is a Redis list key of this test's own, deleted before and after. */
async function emptyQueue(t: TestContext, name: string): Promise<string> {
  const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true });
  await redis.connect();
  const key = `scaleplane-test:aws-mixed:${process.pid}:${name}`;
  await redis.del(key);
  t.after(async () => {
    await redis.del(key);
    redis.disconnect();
  });
  return key;
}

describe('aws: cpu from CloudWatch beside a queue', { timeout: 120_000 }, () => {
  it('the larger proposal wins: CPUUtilization 80 % at target 50 scales 2 to 4 with the queue empty', async (t) => {
    const server = await fake(2);
    server.cpuDatapoints.push({ at: lastCompleteMinute(), average: 80 });
    const app = await mixedGroup(t, server, await emptyQueue(t, 'max'));
    const scaledOut = () =>
      app.controller.journal
        .entries({ group: 'web' })
        .find((e) => e.source === 'policy' && e.after > e.before);
    await until(() => scaledOut() !== undefined, 20_000, 'a scale-out').catch((err: Error) => {
      throw new Error(`${err.message}; last decision: ${app.controller.group('web').lastDecision?.message}`);
    });
    const out = scaledOut()!;
    const metrics = (out.inputs.metrics as { name: string; proposal: number | null }[]).map((m) => [
      m.name,
      m.proposal,
    ]);
    assert.deepEqual(
      [out.before, out.after, metrics],
      [
        2,
        4,
        [
          ['cpu', 4],
          ['redis', 0],
        ],
      ],
    );
  });

  it('no CloudWatch datapoint and an empty queue: no scale to zero until the CPU is read, below the threshold', async (t) => {
    const server = await fake(2);
    const app = await mixedGroup(
      t,
      server,
      await emptyQueue(t, 'activation'),
      '      activation: { threshold: 5, cooldown: 0s }',
    );
    const group = app.controller.group('web');
    const seen = new Set<unknown>();
    await until(
      () => {
        if (group.lastDecision?.proposals[0]?.reason === 'MetricMissing') seen.add(group.lastDecision);
        return seen.size >= 10 || group.desired() === 0;
      },
      40_000,
      'decisions with cpu missing',
    );
    const entries = () =>
      app.controller.journal
        .entries({ group: 'web' })
        .map((e) => `${e.before}→${e.after} ${e.reasons.join(',')}`);
    assert.equal(group.desired(), 2, `held at 2 while cpu is missing: ${entries().join(' | ')}`);
    assert.equal(server.group.desired, 2, 'the Auto Scaling group still counts 2');
    // Read and below the threshold, the CPU says the group is idle: now it goes to zero.
    server.cpuDatapoints.push({ at: lastCompleteMinute(), average: 3 });
    await until(() => group.desired() === 0, 30_000, 'scaled to zero once cpu reads 3 %');
    assert.ok(
      entries().some((e) => e.startsWith('2→0') && e.includes('ScaledToZero')),
      entries().join(' | '),
    );
  });
});

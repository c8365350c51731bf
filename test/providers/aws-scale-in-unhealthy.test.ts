// A scale-in while one instance is marked Unhealthy by the group's health check and not yet
// replaced: it still counts toward the desired capacity, and Auto Scaling's own scale-in passes over
// it ("termination policies only apply to instances that aren't considered unhealthy"). Against
// AwsServer (see aws-server.ts), which plays that, through the AWS SDK v3 clients over real HTTP.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { AwsProvider } from '../../src/providers/index.js';
import { until } from '../helpers/until.js';
import { awsTestOptions } from './aws-helpers.js';
import { AwsServer } from './aws-server.js';

/** withUnhealthy runs a group of `n` InService instances, the oldest marked Unhealthy. */
async function withUnhealthy(t: TestContext, n: number) {
  const server = new AwsServer({ launchMs: 20, terminateMs: 20 });
  await server.start();
  t.after(() => server.close());
  const ids = server.addInstances(n);
  const drained: string[] = [];
  const warnings: string[] = [];
  const provider = new AwsProvider({
    ...awsTestOptions(server.url),
    // A wait that cannot finish fails in 3 s instead of 10.
    timeout: 3000,
    drain: async (instance) => {
      drained.push(instance.id);
    },
    logger: { info() {}, warn: (_fields, message) => warnings.push(message), error() {} },
  });
  t.after(() => provider.close());
  await provider.start();
  const sick = ids[0]!;
  // As the group's health check marks it (EC2 status check failed): its replacement comes later.
  server.instances.get(sick)!.health = 'Unhealthy';
  await until(
    () => provider.instances().some((i) => i.id === sick && i.state === 'failed'),
    5000,
    'the provider sees it Unhealthy',
  );
  const scale = async (target: number) => {
    const error = await provider.scaleTo(target).then(
      () => undefined,
      (err: Error) => err.message,
    );
    const healthy = [...server.instances.values()].filter(
      (i) => i.lifecycle === 'InService' && i.health === 'Healthy',
    ).length;
    // Terminated without Scaleplane draining it first: neither drained nor the unhealthy one.
    const undrained = ids.filter((id) => !server.instances.has(id) && id !== sick && !drained.includes(id));
    const figures = {
      error,
      healthy,
      undrained,
      groupDesired: server.group.desired,
      desired: provider.desired(),
      warnings,
    };
    console.log(`scale ${n} → ${target} with 1 Unhealthy: ${JSON.stringify(figures)}`);
    return figures;
  };
  return { server, provider, sick, drained, scale };
}

describe('aws provider: scale-in with an Unhealthy instance not yet replaced', { timeout: 60_000 }, () => {
  it('3 → 2: the Unhealthy one is terminated, both healthy ones stay', async (t) => {
    const { server, sick, scale } = await withUnhealthy(t, 3);
    const figures = await scale(2);
    // Before: SetDesiredCapacity 2 (2 ready counted), and the group terminated a healthy one,
    // undrained; 1 healthy left and the wait timed out.
    assert.deepEqual(figures.undrained, [], 'no healthy instance terminated undrained');
    assert.equal(figures.error, undefined, 'the scale is done');
    assert.equal(figures.healthy, 2, 'both healthy instances serve');
    assert.ok(!server.instances.has(sick), 'the Unhealthy one is gone');
    assert.deepEqual([figures.groupDesired, figures.desired], [2, 2], 'group and provider at 2');
  });

  it('4 → 2: two go (the Unhealthy one first), the group ends at 2, no other client blamed', async (t) => {
    const { server, sick, scale } = await withUnhealthy(t, 4);
    const figures = await scale(2);
    // Before: one terminated (3 ready counted), DesiredCapacity 3, taken as "set by another client".
    assert.deepEqual(figures.warnings, [], 'no warning of another client');
    assert.deepEqual([figures.groupDesired, figures.desired], [2, 2], 'group and provider at 2');
    assert.equal(figures.healthy, 2, 'two healthy instances serve');
    assert.ok(!server.instances.has(sick), 'the Unhealthy one is gone');
    assert.deepEqual(figures.undrained, [], 'no healthy instance terminated undrained');
  });
});

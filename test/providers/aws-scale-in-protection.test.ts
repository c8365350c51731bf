// Instance scale-in protection on AWS: an operator (or ECS managed termination protection) marks
// instances that must stay with SetInstanceProtection. The group's own scale-in skips them ("Use
// instance scale-in protection", Amazon EC2 Auto Scaling User Guide), but
// TerminateInstanceInAutoScalingGroup, which Scaleplane's scale-in calls, does not look at it (its
// API reference lists no such refusal): the choice of which instance goes is Scaleplane's to get
// right. Against AwsServer (see aws-server.ts), through the AWS SDK v3 clients over real HTTP.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { AutoScalingClient, SetInstanceProtectionCommand } from '@aws-sdk/client-auto-scaling';
import { scaleInVictims } from '../../src/providers/aws/plan.js';
import { AwsProvider } from '../../src/providers/index.js';
import { until } from '../helpers/until.js';
import { awsTestOptions } from './aws-helpers.js';
import { AwsServer } from './aws-server.js';

/** threeReady is a group of three InService instances, ready, and a client an operator would use. */
async function threeReady(t: TestContext) {
  const server = new AwsServer();
  await server.start();
  t.after(() => server.close());
  server.addInstances(3);
  const drained: string[] = [];
  const provider = new AwsProvider({
    ...awsTestOptions(server.url),
    drain: async (victim) => {
      drained.push(victim.id);
    },
  });
  t.after(() => provider.close());
  await provider.start();
  await until(() => provider.instances().filter((i) => i.state === 'ready').length === 3, 5000, '3 ready');
  const operator = new AutoScalingClient({ region: 'us-east-1', endpoint: server.url });
  t.after(() => operator.destroy());
  const protect = (ids: string[]) =>
    operator.send(
      new SetInstanceProtectionCommand({
        AutoScalingGroupName: 'web-asg',
        InstanceIds: ids,
        ProtectedFromScaleIn: true,
      }),
    );
  // Oldest first, as instances() lists them: a scale-in takes the newest.
  const ids = provider.instances().map((i) => i.id);
  const terminated = () =>
    server.requests
      .filter((r) => r.action === 'TerminateInstanceInAutoScalingGroup')
      .map((r) => r.params.InstanceId);
  return { server, provider, ids, protect, terminated, drained };
}

describe('aws provider: instance scale-in protection', { timeout: 60_000 }, () => {
  it('a scale-in leaves the protected newest instance and terminates the next one', async (t) => {
    const { server, provider, ids, protect, terminated, drained } = await threeReady(t);
    const [, middle, newest] = ids as [string, string, string];
    await protect([newest]);
    await provider.scaleTo(2);
    // Before: [newest], the protected one drained and terminated.
    assert.deepEqual(terminated(), [middle], 'the newest unprotected instance goes');
    assert.deepEqual(drained, [middle], 'only the instance terminated is drained');
    assert.equal(server.instances.get(newest)?.lifecycle, 'InService', 'the protected instance stays');
    assert.equal(server.group.desired, 2, 'the group counts 2');
    assert.equal(provider.desired(), 2);
  });

  it('too few unprotected: terminates those, then fails with CAPACITY naming the protected instance, desired() the count made', async (t) => {
    const { server, provider, ids, protect, terminated } = await threeReady(t);
    const [oldest, middle, newest] = ids as [string, string, string];
    await protect([middle, newest]);
    await assert.rejects(provider.scaleTo(1), {
      name: 'ProviderError',
      code: 'CAPACITY',
      message: `web-asg: scale-in to 1 stopped at 2: ${newest} is protected from scale-in (ProtectedFromScaleIn); remove the protection (SetInstanceProtection) to let them go`,
    });
    // Before: [newest, middle], both protected instances terminated, and the scale resolved.
    assert.deepEqual(terminated(), [oldest], 'only the unprotected instance goes');
    assert.equal(server.group.desired, 2, 'one termination made');
    assert.equal(provider.desired(), 2, 'desired() is the count the group has');
  });

  it('chooses purely', () => {
    const live = [
      { id: 'a', state: 'ready' as const },
      { id: 'b', state: 'ready' as const },
      { id: 'c', state: 'starting' as const },
      { id: 'd', state: 'ready' as const },
    ];
    const none = () => false;
    const ids = (c: { victims: { id: string }[]; kept: string[] }) => [c.victims.map((v) => v.id), c.kept];
    assert.deepEqual(ids(scaleInVictims(live, none, 2)), [['c', 'd'], []], 'starting first, then newest');
    assert.deepEqual(ids(scaleInVictims(live, (id) => id === 'c', 2)), [['d', 'b'], []], 'protected skipped');
    assert.deepEqual(
      ids(scaleInVictims(live, (id) => id !== 'a', 1)),
      [['a'], ['c', 'd']],
      'too few unprotected: the protected that would have gone are kept',
    );
    assert.deepEqual(ids(scaleInVictims(live, none, 4)), [[], []], 'no scale-in');
  });
});

// A group whose DesiredCapacity lies outside min/max_instances when Scaleplane starts: aligning
// MinSize/MaxSize (UpdateAutoScalingGroup without a DesiredCapacity) moves DesiredCapacity into the
// new bounds (the API reference: a MinSize above the group's size sets it to the MinSize, a
// MaxSize below sets it to the MaxSize). Against AwsServer (see aws-server.ts), which plays that,
// through the AWS SDK v3 clients over real HTTP.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { AwsProvider } from '../../src/providers/index.js';
import { until } from '../helpers/until.js';
import { awsTestOptions } from './aws-helpers.js';
import { AwsServer } from './aws-server.js';

async function started(t: TestContext, existing: number, min: number, max: number) {
  const server = new AwsServer();
  await server.start();
  t.after(() => server.close());
  server.addInstances(existing);
  const warnings: string[] = [];
  const provider = new AwsProvider({
    ...awsTestOptions(server.url),
    minInstances: min,
    maxInstances: max,
    logger: { info() {}, warn: (_fields, message) => warnings.push(message), error() {} },
  });
  t.after(() => provider.close());
  await provider.start();
  const reads = () => server.requests.filter((r) => r.action === 'DescribeAutoScalingGroups').length;
  // Three more polls: two agreeing reads are what takes a capacity as set by another client.
  const after = reads();
  await until(() => reads() >= after + 3, 5000, 'three more polls');
  return { server, provider, warnings };
}

describe('aws provider: DesiredCapacity outside min/max_instances at start', { timeout: 60_000 }, () => {
  it('above max_instances: desired() is the MaxSize at once, warned naming max_instances, not as another client', async (t) => {
    const { server, provider, warnings } = await started(t, 4, 0, 3);
    assert.equal(server.group.desired, 3, 'MaxSize 3 set the group to 3');
    // Before: 4 (above max_instances) right after start.
    assert.equal(provider.desired(), 3, 'desired() is the group count');
    assert.deepEqual(
      warnings,
      [
        'web-asg: DesiredCapacity 4 is above max_instances (3): aligning MaxSize/MinSize set it to 3, and the group terminates 1 instance(s) by its own termination policy, not drained by Scaleplane; desired is 3 now',
      ],
      'one warning naming max_instances; none of another client',
    );
  });

  it('below min_instances: desired() is the MinSize at once, warned naming min_instances', async (t) => {
    const { server, provider, warnings } = await started(t, 1, 2, 6);
    assert.equal(server.group.desired, 2, 'MinSize 2 set the group to 2');
    assert.equal(provider.desired(), 2, 'desired() is the group count');
    assert.deepEqual(
      warnings,
      [
        'web-asg: DesiredCapacity 1 is below min_instances (2): aligning MaxSize/MinSize set it to 2; desired is 2 now',
      ],
      'one warning naming min_instances; none of another client',
    );
  });
});

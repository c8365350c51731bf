// EC2 is eventually consistent with Auto Scaling: an instance the group lists right after its launch
// may not be found by DescribeInstances yet (EC2 API Reference, "Eventual consistency"), and asked
// for by id the whole call fails with InvalidInstanceID.NotFound. Against AwsServer (see
// aws-server.ts), which plays that, through the AWS SDK v3 clients over real HTTP.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AwsProvider } from '../../src/providers/index.js';
import { until } from '../helpers/until.js';
import { awsTestOptions } from './aws-helpers.js';
import { AwsServer } from './aws-server.js';

describe('aws provider: EC2 not yet knowing a launched instance', { timeout: 60_000 }, () => {
  it('a scale-out whose new instance EC2 does not know for 3 reads completes; no poll fails', async (t) => {
    const server = new AwsServer();
    await server.start();
    t.after(() => server.close());
    server.addInstances(1);
    const errors: Error[] = [];
    const provider = new AwsProvider({
      ...awsTestOptions(server.url),
    });
    provider.on('error', (err) => errors.push(err));
    t.after(() => provider.close());
    await provider.start();
    await until(() => provider.instances().some((i) => i.state === 'ready'), 5000, '1 ready');
    server.ec2UnknownReads = 3;
    // Before: rejected with API_ERROR "DescribeInstances failed: The instance ID 'i-…' does not exist".
    await provider.scaleTo(2);
    assert.equal(provider.instances().filter((i) => i.state === 'ready').length, 2, 'both ready');
    assert.deepEqual(
      errors.map((e) => e.message),
      [],
      'no poll failed: the instance EC2 does not know yet is left out until it does',
    );
  });
});

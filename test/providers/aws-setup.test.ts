// The aws provider on a machine without a region or credentials: the AWS SDK's standard chain finds
// none, and start fails with one line naming what to set. A file of its own: it clears the AWS
// variables of its process (every test file runs in its own).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import type { AwsProviderConfig } from '../../src/config/types.js';
import { AwsProvider } from '../../src/providers/index.js';
import { AwsServer } from './aws-server.js';

const empty = mkdtempSync(join(tmpdir(), 'scaleplane-aws-setup-'));
after(() => rmSync(empty, { recursive: true, force: true }));
for (const name of Object.keys(process.env))
  if (name.startsWith('AWS_') || name === 'HOME') delete process.env[name];
// No shared config or credentials files, and no instance metadata (not an EC2 machine).
process.env.HOME = empty;
process.env.AWS_CONFIG_FILE = join(empty, 'config');
process.env.AWS_SHARED_CREDENTIALS_FILE = join(empty, 'credentials');
process.env.AWS_EC2_METADATA_DISABLED = 'true';

async function start(t: TestContext, config: Partial<AwsProviderConfig>) {
  const server = new AwsServer();
  await server.start();
  t.after(() => server.close());
  const provider = new AwsProvider({
    group: 'web',
    config: {
      provider: 'aws',
      autoScalingGroup: 'web-asg',
      endpoint: server.url,
      port: 8080,
      instanceWarmup: 0,
      minHealthyPercentage: 90,
      pollInterval: 40,
      ...config,
    },
    minInstances: 0,
    maxInstances: 3,
  });
  t.after(() => provider.close());
  return { server, started: provider.start() };
}

describe('aws provider: region and credentials', () => {
  it('no region anywhere: INVALID_ARGUMENT naming groups.<g>.region, nothing sent', async (t) => {
    const { server, started } = await start(t, {});
    // Before: "web-asg: DescribeAutoScalingGroups failed: Region is missing".
    await assert.rejects(started, {
      name: 'ProviderError',
      code: 'INVALID_ARGUMENT',
      message:
        "groups.web.region is not set, and the AWS SDK found none in AWS_REGION or the profile's config",
    });
    assert.deepEqual(server.requests, []);
  });

  it('no credentials: one line naming where the SDK looks, with AWS_PROFILE when set; nothing sent', async (t) => {
    const { server, started } = await start(t, { region: 'us-east-1' });
    // Before: "web-asg: DescribeAutoScalingGroups failed: Could not load credentials from any providers".
    await assert.rejects(started, {
      name: 'ProviderError',
      code: 'API_ERROR',
      message:
        'group web: no AWS credentials for web-asg: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws, or run with an instance or task role (Could not load credentials from any providers)',
    });
    process.env.AWS_PROFILE = 'prod';
    t.after(() => delete process.env.AWS_PROFILE);
    const other = await start(t, { region: 'us-east-1' });
    await assert.rejects(other.started, {
      code: 'API_ERROR',
      message: /or a profile \(AWS_PROFILE=prod\) in ~\/\.aws/,
    });
    assert.deepEqual([...server.requests, ...other.server.requests], []);
  });

  it('with both in the environment it starts as usual', async (t) => {
    process.env.AWS_ACCESS_KEY_ID = 'AKIDSETUP';
    process.env.AWS_SECRET_ACCESS_KEY = 'setup-secret';
    process.env.AWS_REGION = 'eu-west-1';
    t.after(() => {
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
      delete process.env.AWS_REGION;
    });
    const { server, started } = await start(t, {});
    await started;
    assert.equal(server.requests[0]?.accessKey, 'AKIDSETUP');
  });
});

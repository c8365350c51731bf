import type { AwsProviderConfig } from '../../src/config/types.js';
import type { AwsProviderOptions } from '../../src/providers/index.js';

// The standard credential chain reads these; the endpoint override points the clients at the fake.
process.env.AWS_ACCESS_KEY_ID ??= 'AKIDTEST';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test-secret';

/**
 * awsTestOptions are an AwsProvider's options against the fake at `endpoint`: group `web` on the
 * ASG `web-asg`, polled every 40 ms, 0..6 instances, and a wait that cannot finish failing in 10 s,
 * naming itself, instead of after 30 minutes.
 */
export function awsTestOptions(
  endpoint: string,
  config: Partial<AwsProviderConfig> = {},
): AwsProviderOptions {
  return {
    group: 'web',
    config: {
      provider: 'aws',
      autoScalingGroup: 'web-asg',
      region: 'us-east-1',
      endpoint,
      port: 8080,
      instanceWarmup: 0,
      minHealthyPercentage: 50,
      pollInterval: 40,
      ...config,
    },
    minInstances: 0,
    maxInstances: 6,
    timeout: 10_000,
  };
}

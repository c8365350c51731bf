// A scale-in on AWS drains each instance before it terminates it, one after the other: with
// `drain_timeout` 30 s, three instances are 90 s of action after the one fence check of scaleTo.
// A leader deposed meanwhile (its lease lost to a partition, a pause) must not terminate the next
// one: its successor counts it. The fence is asked right before each termination, as the local
// provider asks it right before each SIGTERM. Against AwsServer (see aws-server.ts), through the
// SDK clients, with the provider built by createProvider from YAML as the app builds it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import { createProvider, ProviderError } from '../../src/providers/index.js';
import { until } from '../helpers/until.js';
import { AwsServer } from './aws-server.js';

process.env.AWS_ACCESS_KEY_ID ??= 'AKIDTEST';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test-secret';

describe('aws scale-in and the fence', () => {
  it('a leader deposed while draining terminates no more instances', async (t) => {
    const server = new AwsServer();
    await server.start();
    t.after(() => server.close());
    server.addInstances(3);
    const config = parseConfig(
      [
        'groups:',
        '  web:',
        '    provider: aws',
        '    auto_scaling_group: web-asg',
        '    region: us-east-1',
        `    endpoint: ${server.url}`,
        '    instance_warmup: 0s',
        '    poll_interval: 40ms',
        '    min_instances: 0',
        '    max_instances: 6',
      ].join('\n'),
      { baseDir: '/srv/app' },
    );
    let leading = true;
    const asked: string[] = [];
    const drained: string[] = [];
    const provider = createProvider(config.groups.web!, {
      // The second drain outlives the lease: the controller is deposed while it waits.
      drain: async (victim) => {
        drained.push(victim.id);
        if (drained.length === 2) leading = false;
      },
      fence: async (what) => {
        asked.push(what);
        if (!leading)
          throw new ProviderError('FENCED', `${what} refused: fencing token 7 is not the lease's`);
      },
    });
    t.after(() => provider.close());
    await provider.start?.();
    await until(() => provider.instances().filter((i) => i.state === 'ready').length === 3, 5000, '3 ready');
    await assert.rejects(provider.scaleTo(0), { name: 'ProviderError', code: 'FENCED' });
    assert.equal(drained.length, 2, `drained ${drained.join(', ')}: the third was not even drained`);
    const second = drained[1]!;
    assert.equal(
      server.instances.get(second)?.lifecycle,
      'InService',
      `${second}, drained while the leader was deposed, was terminated anyway (asked the fence: ${asked.join('; ') || 'never'})`,
    );
    assert.equal(server.group.desired, 2, 'exactly one termination, made while leading');
    assert.equal(provider.desired(), 2, "desired() is the group's count");
  });
});

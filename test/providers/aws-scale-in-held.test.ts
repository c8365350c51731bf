// An instance whose replacement failed (SetInstanceHealth refused) is held out of the balancer: it
// failed its health checks, and stays InService, counted, listed `ready` so the replacement is
// tried again. A scale-in meanwhile must take it first: terminating a serving instance instead
// leaves the group at the target with one member that takes no request. Against AwsServer (see
// aws-server.ts), through the AWS SDK v3 clients over real HTTP, with the balancer's pool fed as
// the app feeds it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Pool } from '../../src/balancer/pool.js';
import { scaleInVictims } from '../../src/providers/aws/plan.js';
import { AwsProvider } from '../../src/providers/index.js';
import { until } from '../helpers/until.js';
import { awsTestOptions } from './aws-helpers.js';
import { AwsServer } from './aws-server.js';

describe('aws provider: scale-in with an instance held out of the balancer', { timeout: 60_000 }, () => {
  it('terminates the held instance first, so every instance left serves', async (t) => {
    const server = new AwsServer();
    await server.start();
    t.after(() => server.close());
    server.addInstances(3);
    const pool = new Pool({ drainTimeout: 1000 });
    const provider = new AwsProvider({
      ...awsTestOptions(server.url),
      drain: (victim) => pool.drain(victim.id),
    });
    t.after(() => provider.close());
    provider.on('change', () => pool.setInstances(provider.instances()));
    await provider.start();
    await until(() => provider.instances().filter((i) => i.state === 'ready').length === 3, 5000, '3 ready');
    pool.setInstances(provider.instances());
    const [oldest, middle, newest] = provider.instances().map((i) => i.id) as [string, string, string];
    // An IAM policy without autoscaling:SetInstanceHealth: the replacement of the oldest fails after its drain.
    server.denied.add('SetInstanceHealth');
    await assert.rejects(provider.replace(oldest), { name: 'ProviderError', code: 'API_ERROR' });
    assert.ok(!pool.eligible().some((m) => m.id === oldest), `${oldest} is held out of the balancer`);
    await provider.scaleTo(2);
    const terminated = server.requests
      .filter((r) => r.action === 'TerminateInstanceInAutoScalingGroup')
      .map((r) => r.params.InstanceId);
    // Before: [newest], and the group kept 2 members of which 1 served.
    assert.deepEqual(terminated, [oldest], 'the held instance goes');
    assert.equal(server.instances.get(newest)?.lifecycle, 'InService', 'the newest, serving, stays');
    const serving = pool
      .eligible()
      .map((m) => m.id)
      .sort();
    assert.deepEqual(serving, [middle, newest].sort(), 'both instances left take requests');
  });

  it('chooses purely: held first, then starting, then newest', () => {
    const live = [
      { id: 'a', state: 'ready' as const },
      { id: 'b', state: 'starting' as const },
      { id: 'c', state: 'ready' as const },
    ];
    const held = (id: string) => id === 'a';
    const chosen = scaleInVictims(live, () => false, 1, held).victims.map((v) => v.id);
    assert.deepEqual(chosen, ['a', 'b'], 'held, then starting');
    const protectedHeld = scaleInVictims(live, held, 2, held).victims.map((v) => v.id);
    assert.deepEqual(protectedHeld, ['b'], 'a held instance protected from scale-in stays');
  });
});

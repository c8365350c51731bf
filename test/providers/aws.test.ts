// The aws provider through the AWS SDK v3 clients over real HTTP, against AwsServer: a local server
// speaking the Auto Scaling and EC2 Query/XML protocols (see aws-server.ts). No AWS here.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { AutoScalingClient, SetInstanceHealthCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import type { AwsProviderConfig } from '../../src/config/types.js';
import { withinHealthCheckGrace } from '../../src/providers/aws/index.js';
import {
  AwsProvider,
  type AwsProviderOptions,
  planStopStart,
  refreshMinHealthyPercentage,
  watchInstances,
} from '../../src/providers/index.js';
import { until } from '../helpers/until.js';
import { AwsServer } from './aws-server.js';
import { providerConformance } from './conformance.js';
import { REPLACE_AFTER, watchHealth } from './health-watch.js';

// The standard credential chain reads these; the endpoint override points the clients here.
process.env.AWS_ACCESS_KEY_ID ??= 'AKIDTEST';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test-secret';

async function setup(
  t: TestContext,
  min = 0,
  existing = 0,
  config: Partial<AwsProviderConfig> = {},
  extra: Partial<AwsProviderOptions> = {},
) {
  const server = new AwsServer();
  await server.start();
  t.after(() => server.close());
  server.addInstances(existing);
  const provider = new AwsProvider({
    group: 'web',
    config: {
      provider: 'aws',
      autoScalingGroup: 'web-asg',
      region: 'us-east-1',
      endpoint: server.url,
      port: 8080,
      instanceWarmup: 0,
      minHealthyPercentage: 50,
      pollInterval: 40,
      ...config,
    },
    minInstances: min,
    maxInstances: 6,
    ...extra,
  });
  t.after(() => provider.close());
  return { server, provider };
}

providerConformance('aws', async (t) => {
  // A 100% floor: the refresh launches a replacement before it terminates an old instance.
  const { provider } = await setup(t, 0, 0, { minHealthyPercentage: 100 });
  return { provider, resizeTo: { instanceType: 't3.large' } };
});

describe('aws provider', () => {
  it('aligns MinSize/MaxSize, scales with SetDesiredCapacity and reads private IPs', async (t) => {
    const { server, provider } = await setup(t, 1, 1);
    await provider.start();
    const update = server.requests.find((r) => r.action === 'UpdateAutoScalingGroup');
    assert.deepEqual(
      {
        name: update?.params.AutoScalingGroupName,
        min: update?.params.MinSize,
        max: update?.params.MaxSize,
        version: update?.params.Version,
      },
      { name: 'web-asg', min: '1', max: '6', version: '2011-01-01' },
    );
    await provider.scaleTo(3);
    const set = server.requests.find((r) => r.action === 'SetDesiredCapacity');
    assert.deepEqual(
      { d: set?.params.DesiredCapacity, h: set?.params.HonorCooldown },
      { d: '3', h: 'false' },
    );
    const describe = server.requests.find((r) => r.action === 'DescribeInstances');
    assert.equal(describe?.params.Version, '2016-11-15');
    assert.ok(describe?.params['InstanceId.1']?.startsWith('i-'));
    for (const i of provider.instances()) assert.match(i.address, /^10\.0\.1\.\d+:8080$/);
  });

  it('observe polls with Describe calls only (no MinSize/MaxSize alignment); start then aligns them and keeps polling', async (t) => {
    const { server, provider } = await setup(t, 1, 2);
    await provider.observe();
    assert.deepEqual(
      provider.instances().map((i) => i.state),
      ['ready', 'ready'],
    );
    assert.equal(provider.desired(), 2);
    const polls = server.requests.length;
    await until(() => server.requests.length > polls, 5000, 'a poll at poll_interval');
    assert.deepEqual([...new Set(server.requests.map((r) => r.action))].sort(), [
      'DescribeAutoScalingGroups',
      'DescribeInstances',
    ]);
    assert.equal(server.group.min, 0, 'MinSize untouched');
    await provider.start();
    assert.equal(server.requests.filter((r) => r.action === 'UpdateAutoScalingGroup').length, 1);
    assert.equal(server.group.min, 1);
  });

  it('respects the instance warm-up before an instance counts as ready', async (t) => {
    const { provider } = await setup(t, 0, 0, { instanceWarmup: 400 });
    const started = Date.now();
    await provider.scaleTo(1);
    assert.ok(Date.now() - started >= 400, `ready after ${Date.now() - started} ms`);
  });

  it('instance refresh keeps at least min_instances in service (MinHealthyPercentage raised to cover it)', async (t) => {
    const { server, provider } = await setup(t, 3, 4, { minHealthyPercentage: 50 });
    await provider.start();
    server.inServiceHistory.length = 0;
    await provider.resize({ instanceType: 't3.large' });
    const start = server.requests.find((r) => r.action === 'StartInstanceRefresh');
    assert.equal(
      start?.params['Preferences.MinHealthyPercentage'],
      String(refreshMinHealthyPercentage(50, 3, 4)),
    );
    assert.equal(start?.params['Preferences.MinHealthyPercentage'], '75');
    const lt = server.requests.find((r) => r.action === 'CreateLaunchTemplateVersion');
    assert.deepEqual(
      {
        id: lt?.params.LaunchTemplateId,
        source: lt?.params.SourceVersion,
        type: lt?.params['LaunchTemplateData.InstanceType'],
      },
      { id: 'lt-0abc', source: '1', type: 't3.large' },
    );
    const lowest = Math.min(...server.inServiceHistory);
    t.diagnostic(`in service during the refresh: lowest ${lowest}, min_instances 3`);
    assert.ok(lowest >= 3, `in service dropped to ${lowest}`);
    assert.ok([...server.instances.values()].every((i) => i.type === 't3.large'));
  });

  it('without a launch template: stop → ModifyInstanceAttribute → start, one at a time, never below min_instances', async (t) => {
    const { server, provider } = await setup(t, 2, 3);
    server.group.template = undefined;
    await provider.start();
    server.inServiceHistory.length = 0;
    await provider.resize({ instanceType: 'm5.large' });
    const actions = server.requests
      .map((r) => r.action)
      .filter((a) => /Standby|Instances$|Modify/.test(a) && a !== 'DescribeInstances');
    assert.deepEqual(actions.slice(0, 5), [
      'EnterStandby',
      'StopInstances',
      'ModifyInstanceAttribute',
      'StartInstances',
      'ExitStandby',
    ]);
    assert.ok(
      Math.min(...server.inServiceHistory) >= 2,
      `in service dropped to ${Math.min(...server.inServiceHistory)}`,
    );
    assert.ok([...server.instances.values()].every((i) => i.type === 'm5.large'));
  });

  it('refuses an in-place resize without spare capacity (CAPACITY), changing nothing', async (t) => {
    const { server, provider } = await setup(t, 2, 2);
    server.group.template = undefined;
    await provider.start();
    await assert.rejects(provider.resize({ instanceType: 'm5.large' }), { code: 'CAPACITY' });
    assert.ok(!server.requests.some((r) => r.action === 'StopInstances'));
  });

  it('replace drains, then SetInstanceHealth Unhealthy (grace period respected); the group replaces it at the same capacity', async (t) => {
    const drained: { id: string; requestsBefore: number }[] = [];
    const { server, provider } = await setup(
      t,
      1,
      3,
      {},
      {
        drain: async (instance) => {
          drained.push({ id: instance.id, requestsBefore: server.requests.length });
        },
      },
    );
    await provider.start();
    const [victim, ...others] = provider.instances();
    let minReady = Number.POSITIVE_INFINITY;
    const stop = watchInstances(provider, (list) => {
      minReady = Math.min(minReady, list.filter((i) => i.state === 'ready').length);
    });
    const sent = server.requests.length;
    const result = await provider.replace(victim!.id);
    stop();

    assert.equal(result.method, 'set-instance-health');
    const changes = server.requests
      .slice(sent)
      .filter((r) => !r.action.startsWith('Describe'))
      .map((r) => r.params);
    assert.deepEqual(changes, [
      {
        Action: 'SetInstanceHealth',
        Version: '2011-01-01',
        InstanceId: victim!.id,
        HealthStatus: 'Unhealthy',
        ShouldRespectGracePeriod: 'true',
      },
    ]);
    assert.deepEqual(drained, [{ id: victim!.id, requestsBefore: drained[0]!.requestsBefore }]);
    assert.ok(
      !server.requests.slice(sent, drained[0]!.requestsBefore).some((r) => r.action === 'SetInstanceHealth'),
      'drained before the mark',
    );
    assert.equal(server.group.desired, 3, 'desired capacity unchanged');
    const ready = provider.instances().filter((i) => i.state === 'ready');
    assert.equal(ready.length, 3);
    assert.ok(!ready.some((i) => i.id === victim!.id));
    for (const o of others)
      assert.ok(
        ready.some((i) => i.id === o.id),
        `${o.id} kept`,
      );
    assert.ok(minReady >= 2, `ready instances dropped to ${minReady}`);
  });

  it('replace refuses the only ready instance (CAPACITY) and one inside the grace period (BUSY), marking nothing', async (t) => {
    const launched = Date.now();
    const { server, provider } = await setup(t, 1, 1);
    await provider.start();
    const [only] = provider.instances();
    // The launch time the provider counts from is the instance's own (EC2 LaunchTime), just now.
    assert.ok(only!.startedAt >= launched && only!.startedAt <= Date.now(), `launched at ${only!.startedAt}`);
    await assert.rejects(provider.replace(only!.id), { name: 'ProviderError', code: 'CAPACITY' });
    await provider.scaleTo(2);
    // The console's default grace: both instances came into service seconds ago.
    server.group.healthCheckGracePeriod = 300;
    await assert.rejects(provider.replace(only!.id), { code: 'BUSY' });
    assert.ok(!server.requests.some((r) => r.action === 'SetInstanceHealth'));
    assert.equal(withinHealthCheckGrace(0, 300_000, 299_999), true);
    assert.equal(withinHealthCheckGrace(0, 300_000, 300_000), false);
    assert.equal(withinHealthCheckGrace(0, 0, 0), false);
  });

  it('the fake: a mark respecting the grace period is ignored inside it; one that does not, or after it, is acted on', async (t) => {
    let now = Date.parse('2026-11-28T12:00:00.000Z');
    const server = new AwsServer({ now: () => now });
    await server.start();
    t.after(() => server.close());
    server.group.healthCheckGracePeriod = 300;
    server.addInstances(3);
    const [a, b, c] = [...server.instances.keys()];
    const common = {
      region: 'us-east-1',
      endpoint: server.url,
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
    };
    const autoScaling = new AutoScalingClient(common);
    const ec2 = new EC2Client(common);
    t.after(() => {
      autoScaling.destroy();
      ec2.destroy();
    });
    const mark = (InstanceId: string, ShouldRespectGracePeriod?: boolean) =>
      autoScaling.send(
        new SetInstanceHealthCommand({
          InstanceId,
          HealthStatus: 'Unhealthy',
          ...(ShouldRespectGracePeriod !== undefined && { ShouldRespectGracePeriod }),
        }),
      );
    const state = (id: string) => {
      const i = server.instances.get(id);
      return i === undefined ? 'gone' : `${i.lifecycle} ${i.health}`;
    };

    // LaunchTime is each instance's own, as EC2 reports it.
    const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [a!] }));
    assert.equal(described.Reservations?.[0]?.Instances?.[0]?.LaunchTime?.getTime(), now);

    // 299 s into the 300 s grace: accepted (no error), ignored whether the flag is sent or left to its default.
    now += 299_000;
    await mark(a!, true);
    await mark(b!);
    // Not respecting it: acted on. Its termination is scheduled after any the marks above would have
    // scheduled (same delay, later), so once c is terminating, a and b would have been too.
    await mark(c!, false);
    const terminated = (id: string) => ['Terminating Unhealthy', 'gone'].includes(state(id));
    await until(() => terminated(c!), 5000, 'c terminated');
    assert.deepEqual(
      [a, b].map((id) => state(id!)),
      ['InService Healthy', 'InService Healthy'],
    );
    assert.equal(server.group.desired, 3, 'c replaced at the same capacity');

    // Once the grace period is over, a respected mark is acted on too.
    now += 1_000;
    await mark(a!, true);
    await until(() => terminated(a!), 5000, 'a terminated');
    assert.equal(state(b!), 'InService Healthy');
  });

  it('through the controller: held while every instance fails, marked Unhealthy past replace_after once one passes', async (t) => {
    const { server, provider } = await setup(t, 1, 3);
    await provider.start();
    const { clock, watch, verdict, next, reasons } = watchHealth(provider);
    const [victim, b, c] = provider.instances();
    for (const i of [victim!, b!, c!]) verdict(i.id, false);
    clock.now += REPLACE_AFTER;
    watch.tick();
    await next('HeldPanic', victim!.id);
    assert.ok(!server.requests.some((r) => r.action === 'SetInstanceHealth'), 'nothing marked in panic');
    verdict(b!.id, true);
    verdict(c!.id, true);
    watch.tick();
    const replaced = await next('Replaced', victim!.id);
    assert.equal(replaced.inputs.method, 'set-instance-health');
    assert.deepEqual(reasons(victim!.id), ['InstanceUnhealthy', 'HeldPanic', 'ReplaceUnhealthy', 'Replaced']);
    assert.deepEqual(
      server.requests.filter((r) => r.action === 'SetInstanceHealth').map((r) => r.params.InstanceId),
      [victim!.id],
    );
  });

  it('plans purely', () => {
    assert.equal(refreshMinHealthyPercentage(90, 1, 4), 90);
    assert.equal(refreshMinHealthyPercentage(50, 3, 3), 100);
    assert.equal(refreshMinHealthyPercentage(0, 1, 3), 34);
    assert.deepEqual(planStopStart([{ id: 'a', instanceType: 'x' }], 'y', 1).ok, false);
    assert.deepEqual(
      planStopStart(
        [
          { id: 'a', instanceType: 'x' },
          { id: 'b', instanceType: 'y' },
        ],
        'y',
        1,
      ),
      { ok: true, instanceId: 'a', reason: 'SpareCapacity' },
    );
  });
});

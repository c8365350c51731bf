// A scale-in on AWS drains each instance before it terminates it, one after the other: with
// `drain_timeout` 30 s, three instances are 90 s of action after the one fence check of scaleTo.
// A leader deposed meanwhile (its lease lost to a partition, a pause) must not terminate the next
// one: its successor counts it. The fence is asked right before each termination, as the local
// provider asks it right before each SIGTERM; so is each instance's stop of an in-place resize,
// and the rollback of an instance refresh that failed or ran out of time while the leader waited.
// Against AwsServer (see aws-server.ts), through the SDK clients, with the provider built by
// createProvider from YAML as the app builds it.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import { createProvider, ProviderError } from '../../src/providers/index.js';
import { until } from '../helpers/until.js';
import { AwsServer } from './aws-server.js';

process.env.AWS_ACCESS_KEY_ID ??= 'AKIDTEST';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test-secret';

/**
 * deposedAtDrain builds the group's provider as the app does, deposed during its drain number `at`;
 * `yaml`: more keys of the group, `fake`: AwsServer's options.
 */
async function deposedAtDrain(
  t: TestContext,
  existing: number,
  min: number,
  at = 2,
  yaml: string[] = [],
  fake: { launchMs?: number } = {},
) {
  const server = new AwsServer(fake);
  await server.start();
  t.after(() => server.close());
  server.addInstances(existing);
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
      `    min_instances: ${min}`,
      '    max_instances: 6',
      ...yaml.map((line) => `    ${line}`),
    ].join('\n'),
    { baseDir: '/srv/app' },
  );
  const state = { leading: true, asked: [] as string[], drained: [] as string[] };
  const provider = createProvider(config.groups.web!, {
    // That drain outlives the lease: the controller is deposed while it waits.
    drain: async (victim) => {
      state.drained.push(victim.id);
      if (state.drained.length === at) state.leading = false;
    },
    fence: async (what) => {
      state.asked.push(what);
      if (!state.leading)
        throw new ProviderError('FENCED', `${what} refused: fencing token 7 is not the lease's`);
    },
  });
  t.after(() => provider.close());
  await provider.start?.();
  await until(
    () => provider.instances().filter((i) => i.state === 'ready').length === existing,
    5000,
    `${existing} ready`,
  );
  return { server, provider, state };
}

describe('aws scale-in and the fence', () => {
  it('a leader deposed while draining terminates no more instances', async (t) => {
    const { server, provider, state } = await deposedAtDrain(t, 3, 0);
    const { drained, asked } = state;
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

  it('a leader deposed while draining for an in-place resize stops and starts no more instances', async (t) => {
    const { server, provider, state } = await deposedAtDrain(t, 3, 1);
    // No launch template: each instance in turn is drained, stopped, given the type and started.
    server.group.template = undefined;
    await assert.rejects(provider.resize!({ instanceType: 'm5.large' }), {
      name: 'ProviderError',
      code: 'FENCED',
    });
    const listed = [...server.instances.values()].map(
      (i) => `${i.id} ${i.type} ${i.lifecycle} ${i.ec2State}`,
    );
    assert.equal(
      [...server.instances.values()].filter((i) => i.type === 'm5.large').length,
      1,
      `only the instance resized while leading is at m5.large (asked the fence: ${state.asked.join('; ') || 'never'}): ${listed.join(', ')}`,
    );
    assert.ok(
      [...server.instances.values()].every((i) => i.lifecycle === 'InService' && i.ec2State === 'running'),
      `every instance in service and running: ${listed.join(', ')}`,
    );
    assert.equal(server.group.desired, 3, 'the desired capacity is 3');
  });

  it('a leader deposed while draining for a replacement marks nothing Unhealthy', async (t) => {
    const { server, provider, state } = await deposedAtDrain(t, 3, 1, 1);
    const victim = provider.instances()[0]!.id;
    const sent = server.requests.length;
    await assert.rejects(provider.replace!(victim), { name: 'ProviderError', code: 'FENCED' });
    const changes = server.requests.slice(sent).filter((r) => !r.action.startsWith('Describe'));
    assert.deepEqual(
      changes.map((r) => r.action),
      [],
      `the deposed leader changed the group (asked the fence: ${state.asked.join('; ') || 'never'})`,
    );
    assert.equal(server.instances.get(victim)?.lifecycle, 'InService', `${victim} stays in service`);
  });

  for (const ending of ['ends Failed', 'runs out of time'] as const)
    it(`a leader deposed while its instance refresh ran, which then ${ending}, cancels nothing and puts no version back`, async (t) => {
      // New instances stay Pending for a minute: the refresh (100% floor) ends only as the test says.
      const { server, provider, state } = await deposedAtDrain(
        t,
        2,
        0,
        0,
        ['min_healthy_percentage: 100', `scale_timeout: ${ending === 'runs out of time' ? '1s' : '60s'}`],
        { launchMs: 60_000 },
      );
      const resizing = provider.resize!({ instanceType: 't3.large' }).then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string },
      );
      await until(() => server.refresh !== undefined, 5000, 'the instance refresh started');
      // The lease is lost while the refresh runs; the next leader owns the group from here on.
      state.leading = false;
      const sent = server.requests.length;
      const version = server.group.template!.version;
      if (ending === 'ends Failed') server.refresh!.status = 'Failed';
      const err = await resizing;
      const changes = server.requests.slice(sent).filter((r) => !r.action.startsWith('Describe'));
      assert.deepEqual(
        changes.map((r) => r.action),
        [],
        `the deposed leader changed the group after its refresh ${ending} (asked the fence: ${state.asked.join('; ') || 'never'})`,
      );
      assert.equal(err?.code, 'FENCED', `the resize did not fail as FENCED: ${String(err)}`);
      assert.equal(
        server.group.template!.version,
        version,
        `the group launches from version ${version}, the resize's, until the next leader decides`,
      );
      if (ending === 'runs out of time')
        assert.equal(server.refresh?.status, 'InProgress', 'the refresh is left running, not cancelled');
    });
  it('a leader deposed while StartInstanceRefresh is refused puts no version back', async (t) => {
    const { server, provider, state } = await deposedAtDrain(t, 2, 0, 0, ['min_healthy_percentage: 100']);
    // Refused, and answered a second late: the lease is lost while the resize waits for it.
    server.refusals.set('StartInstanceRefresh', [
      {
        status: 400,
        code: 'InstanceRefreshInProgress',
        message: 'an active instance refresh already exists',
      },
    ]);
    server.slow.set('StartInstanceRefresh', 1000);
    const resizing = provider.resize!({ instanceType: 't3.large' }).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    await until(
      () => server.requests.some((r) => r.action === 'StartInstanceRefresh'),
      5000,
      'StartInstanceRefresh sent',
    );
    state.leading = false;
    const version = server.group.template!.version;
    const sent = server.requests.length;
    const err = await resizing;
    assert.match(String(err), /active instance refresh already exists/, "the resize fails with AWS's reason");
    const changes = server.requests.slice(sent).filter((r) => !r.action.startsWith('Describe'));
    assert.deepEqual(
      changes.map((r) => r.action),
      [],
      `the deposed leader changed the group after the refusal (asked the fence: ${state.asked.join('; ')})`,
    );
    assert.equal(server.group.template!.version, version, 'the version is left for the next leader');
  });
});

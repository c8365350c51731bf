// A config reload that changes min/max_instances of an AWS group: the controller takes the new
// bounds at once, and the Auto Scaling group's MinSize/MaxSize must follow, or AWS refuses the scales
// the new bounds allow (SetDesiredCapacity above MaxSize; TerminateInstanceInAutoScalingGroup that
// decrements below MinSize) and keeps a MaxSize above a lowered max_instances. Controller +
// AwsProvider against AwsServer (see aws-server.ts), through the AWS SDK v3 clients over real HTTP.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { Config } from '../../src/config/types.js';
import { Controller, DecisionJournal, GroupController } from '../../src/controller/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { AwsProvider } from '../../src/providers/index.js';
import { groupConfig } from '../helpers/group-config.js';
import { until } from '../helpers/until.js';
import { awsTestOptions } from './aws-helpers.js';
import { AwsServer } from './aws-server.js';

const silent = { info() {}, warn() {}, error() {} };

/** leading runs a controller leading group `web` on the fake's group of `existing` instances. */
async function leading(t: TestContext, existing: number, min: number, max: number) {
  const server = new AwsServer({ launchMs: 20, terminateMs: 20 });
  await server.start();
  t.after(() => server.close());
  server.addInstances(existing);
  const options = { ...awsTestOptions(server.url), minInstances: min, maxInstances: max };
  const provider = new AwsProvider(options);
  t.after(() => provider.close());
  const journal = new DecisionJournal();
  const web = groupConfig({
    name: 'web',
    minInstances: min,
    maxInstances: max,
    initialInstances: min,
    provider: options.config,
  });
  const group = new GroupController({
    config: web,
    provider,
    journal,
    metrics: createMetrics({ defaultMetrics: false }),
    logger: silent,
    readMetrics: () => [],
  });
  const config = { controller: { interval: 60_000 }, groups: { web } } as unknown as Config;
  const controller = new Controller({ config, groups: [group], journal, logger: silent, backends: () => [] });
  await controller.start();
  t.after(() => controller.close());
  const reload = (bounds: { minInstances: number; maxInstances: number }) =>
    controller.reconfigure(
      { ...config, groups: { web: { ...web, ...bounds } } },
      { by: 'SIGHUP', changes: ['groups.web.min_instances', 'groups.web.max_instances'] },
    );
  const failures = () =>
    journal
      .entries({ group: 'web' })
      .filter((e) => e.reasons.includes('ScaleFailed'))
      .map((e) => e.message);
  /** settled waits until the group has `n` InService instances and no other, or a scale failed. */
  const settled = (n: number, what: string) =>
    until(
      () =>
        failures().length > 0 ||
        (server.instances.size === n &&
          server.inService() === n &&
          provider.desired() === n &&
          provider.instances().filter((i) => i.state === 'ready').length === n),
      10_000,
      what,
    );
  const terminatedByUs = () =>
    server.requests
      .filter((r) => r.action === 'TerminateInstanceInAutoScalingGroup')
      .map((r) => r.params.InstanceId);
  return { server, provider, controller, reload, failures, settled, terminatedByUs };
}

describe('aws provider: min/max_instances changed by a config reload', { timeout: 60_000 }, () => {
  it('max_instances raised from 3 to 5: a scale to 5 is made, MaxSize 5', async (t) => {
    const { server, controller, reload, failures, settled } = await leading(t, 3, 1, 3);
    reload({ minInstances: 1, maxInstances: 5 });
    controller.group('web').scale('set', 5, 0);
    await settled(5, 'the scale to 5 made or failed');
    console.log(
      `raised: MaxSize ${server.group.max}, desired ${server.group.desired}, failures ${JSON.stringify(failures())}`,
    );
    // Before: ["scale to 5 failed: web-asg: SetDesiredCapacity failed: New SetDesiredCapacity value 5
    // is above max value 3 for the AutoScalingGroup.; …"], the group at 3.
    assert.deepEqual(failures(), [], 'no scale failed');
    assert.deepEqual(
      [server.group.min, server.group.max, server.group.desired],
      [1, 5, 5],
      'MinSize, MaxSize, DesiredCapacity',
    );
  });

  it('max_instances lowered from 4 to 2: the 2 removed are drained by Scaleplane, then MaxSize 2', async (t) => {
    const { server, reload, failures, settled, terminatedByUs } = await leading(t, 4, 1, 4);
    const before = [...server.instances.keys()];
    reload({ minInstances: 1, maxInstances: 2 });
    await settled(2, 'the scale-in to 2 made or failed');
    await until(() => server.group.max === 2 || failures().length > 0, 5000, 'MaxSize 2');
    const gone = before.filter((id) => !server.instances.has(id));
    console.log(
      `lowered max: MaxSize ${server.group.max}, gone ${gone.length}, terminated by Scaleplane ${terminatedByUs().length}`,
    );
    assert.deepEqual(failures(), [], 'no scale failed');
    // Before: MaxSize stayed 4, above max_instances 2.
    assert.deepEqual(
      [server.group.min, server.group.max, server.group.desired],
      [1, 2, 2],
      'MinSize, MaxSize, DesiredCapacity',
    );
    assert.deepEqual(
      gone.sort(),
      terminatedByUs().sort(),
      'every instance that went was one Scaleplane drained and terminated, none by the group',
    );
  });

  it('min_instances lowered from 3 to 1: a scale to 1 is made, MinSize 1', async (t) => {
    const { server, controller, reload, failures, settled } = await leading(t, 3, 3, 6);
    reload({ minInstances: 1, maxInstances: 6 });
    controller.group('web').scale('set', 1, 0);
    await settled(1, 'the scale-in to 1 made or failed');
    console.log(
      `lowered min: MinSize ${server.group.min}, desired ${server.group.desired}, failures ${JSON.stringify(failures())}`,
    );
    // Before: ["scale to 1 failed: web-asg: TerminateInstanceInAutoScalingGroup failed: Currently,
    // desiredSize equals minSize (3). …"], the group at 3.
    assert.deepEqual(failures(), [], 'no scale failed');
    assert.deepEqual(
      [server.group.min, server.group.max, server.group.desired],
      [1, 6, 1],
      'MinSize, MaxSize, DesiredCapacity',
    );
  });
});

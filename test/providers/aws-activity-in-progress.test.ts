// Auto Scaling refuses SetDesiredCapacity with `ScalingActivityInProgress` while one of the group's
// scaling activities runs: "try again later", not a failure. The scale sends it again after a short
// wait (three times in all), then gives up BUSY, nothing changed; the controller journals that as
// `ScaleDeferred` and its next decision asks again; no failed `operation` is reported, so the
// provider alert (fired on operations that keep failing) does not count it. Before, the first
// refusal failed the scale as API_ERROR, journaled ScaleFailed and counted toward the alert.
// AwsProvider (and GroupController over it) against AwsServer (aws-server.ts: no AWS account runs
// here), through the AWS SDK v3 clients over real HTTP.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { Config } from '../../src/config/index.js';
import {
  Controller,
  DecisionJournal,
  GroupController,
  type JournalEntry,
} from '../../src/controller/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { AwsProvider, type OperationOutcome } from '../../src/providers/index.js';
import { groupConfig } from '../helpers/group-config.js';
import { until } from '../helpers/until.js';
import { awsTestOptions } from './aws-helpers.js';
import { AwsServer } from './aws-server.js';

/** setup is the fake's group of one InService instance and a started AwsProvider on it, its failed operations and log notes collected. */
async function setup(t: TestContext) {
  const server = new AwsServer({ launchMs: 20, terminateMs: 20 });
  await server.start();
  t.after(() => server.close());
  server.addInstances(1);
  const notes: string[] = [];
  const options = awsTestOptions(server.url);
  const provider = new AwsProvider({
    ...options,
    logger: { info: (_f, msg) => notes.push(msg), warn() {}, error() {} },
  });
  t.after(() => provider.close());
  const failed: string[] = [];
  provider.on('operation', (o: OperationOutcome) => {
    if (o.error) failed.push(`${o.operation}: ${o.error.message}`);
  });
  provider.on('error', () => {});
  await provider.start();
  await until(() => provider.instances().some((i) => i.state === 'ready'), 5000, '1 ready');
  return { server, provider, options, notes, failed };
}

/** setDesired are the DesiredCapacity values of the SetDesiredCapacity requests since request `from`. */
const setDesired = (server: AwsServer, from = 0) =>
  server.requests
    .slice(from)
    .filter((r) => r.action === 'SetDesiredCapacity')
    .map((r) => r.params.DesiredCapacity);

describe('AWS: SetDesiredCapacity refused ScalingActivityInProgress', { timeout: 60_000 }, () => {
  it('refused twice, then taken: the scale sends it again after a wait and completes; no failed operation', async (t) => {
    const { server, provider, notes, failed } = await setup(t);
    server.activityInProgress('SetDesiredCapacity', 2);
    await provider.scaleTo(2);
    assert.equal(server.group.desired, 2, 'DesiredCapacity written');
    assert.equal(provider.desired(), 2);
    assert.deepEqual(setDesired(server), ['2', '2', '2'], 'two refused, the third taken');
    assert.deepEqual(failed, [], 'nothing counted toward the provider alert');
    assert.deepEqual(
      notes.filter((n) => n.includes('ScalingActivityInProgress') || n.includes('scaling activity')),
      [
        'web-asg: SetDesiredCapacity 2 refused while a scaling activity is in progress; sending it again in 40 ms',
        'web-asg: SetDesiredCapacity 2 refused while a scaling activity is in progress; sending it again in 80 ms',
      ],
    );
  });

  it('refused on every try: BUSY, nothing changed; the controller journals ScaleDeferred and its next decision scales', async (t) => {
    const { server, provider, options, failed } = await setup(t);
    const journal = new DecisionJournal();
    const group = new GroupController({
      config: groupConfig({
        provider: options.config,
        scaling: {
          metrics: [{ type: 'cpu', target: 50 }],
          tolerance: 0.1,
          scaleDownStabilization: 10_000,
          scaleUpStabilization: 0,
          metricWindow: 1_000,
        },
      }),
      provider,
      journal,
      metrics: createMetrics({ defaultMetrics: false }),
      logger: { info() {}, warn() {}, error() {} },
      // Twice the target on the one instance: the policy wants 2.
      readMetrics: (instances) => [{ name: 'cpu', target: 50, values: instances.map(() => 100) }],
    });
    await group.start(0);
    assert.equal(provider.desired(), 1);
    server.activityInProgress('SetDesiredCapacity', 3);
    const from = server.requests.length;
    const settled = new Promise<string[]>((resolve) =>
      journal.on('entry', (e) => {
        if (e.reasons.includes('ScaleDeferred') || e.reasons.includes('ScaleFailed')) resolve(e.reasons);
      }),
    );
    assert.equal(group.evaluate(1_000)?.after, 2, 'the policy decides 2');
    assert.deepEqual(await settled, ['ScaleDeferred']);
    const deferred = journal.entries({ group: 'web' }).at(-1)!;
    assert.deepEqual([deferred.source, deferred.before, deferred.after], ['policy', 2, 1]);
    assert.equal(deferred.inputs.code, 'BUSY');
    assert.equal(
      deferred.message,
      "scale to 2 deferred: web-asg: SetDesiredCapacity refused: a scaling activity of the group is in progress (ScalingActivityInProgress); nothing changed, try again once it ends; the provider's desired count is 1, and the next decision asks again",
    );
    assert.equal(server.group.desired, 1, 'DesiredCapacity unchanged');
    assert.equal(provider.desired(), 1);
    assert.deepEqual(setDesired(server, from), ['2', '2', '2'], 'three tries, each refused');
    assert.deepEqual(failed, [], 'nothing counted toward the provider alert');

    // The activity ended: the next decision asks again and the scale is made.
    assert.equal(group.evaluate(2_000)?.after, 2, 'the next decision asks for 2 again');
    await until(() => server.group.desired === 2 && provider.desired() === 2, 5000, 'scaled to 2');
    assert.deepEqual(failed, []);
  });
  it('a manual scale refused on every try is asked again at the next tick, not dropped: no policy would ask', async (t) => {
    // Before, it was journaled ScaleDeferred and nothing asked again: the API had answered 202, and
    // a group without a policy never got the count.
    const { server, provider, options, failed } = await setup(t);
    const { controller, journal } = await manualController(t, provider, options);
    assert.equal(provider.desired(), 1);
    server.activityInProgress('SetDesiredCapacity', 3);
    const deferred = nextEntry(journal, 'ScaleDeferred', 'ScaleFailed');
    controller.scale('web', 'set', 3, 'test');
    const entry = await deferred;
    assert.deepEqual([entry.reasons, entry.source, entry.after], [['ScaleDeferred'], 'api', 1]);
    assert.match(entry.message, /the next tick of the control loop asks again$/);
    assert.equal(server.group.desired, 1, 'nothing changed yet');

    // The activity ended: the next tick asks again, and the scale is made.
    const made = nextEntry(journal, 'DeferredScaleRetried', 'ScaleDeferred', 'ScaleFailed');
    controller.tick();
    const retried = await made;
    assert.deepEqual(
      [retried.reasons, retried.source, retried.before, retried.after],
      [['DeferredScaleRetried'], 'api', 1, 3],
    );
    await until(() => server.group.desired === 3 && provider.desired() === 3, 5000, 'scaled to 3');
    assert.deepEqual(controller.tick(), [], 'asked once: nothing deferred any more');
    assert.deepEqual(failed, []);
  });

  it('a manual scale deferred over several ticks: one journal append per tick (its ScaleDeferred counted), one when made', async (t) => {
    // Before, each tick journaled `DeferredScaleRetried` up front and then `ScaleDeferred` again: two
    // appends per tick (two log lines, two state store writes, the persisted count 3, then 1 again).
    const { server, provider, options, failed } = await setup(t);
    const { controller, journal } = await manualController(t, provider, options);
    const appended: string[] = [];
    journal.on('entry', (e: JournalEntry) => {
      if (e.group === 'web') appended.push(`${e.reasons.join('+')} ${e.before}→${e.after} ×${e.count ?? 1}`);
    });
    const ticks = 3;
    // Three tries per ask (the scale's own waits), refused for the manual scale and each tick's ask.
    server.activityInProgress('SetDesiredCapacity', 3 * (1 + ticks));
    let deferred = nextEntry(journal, 'ScaleDeferred', 'ScaleFailed');
    controller.scale('web', 'set', 3, 'test');
    await deferred;
    for (let i = 1; i <= ticks; i++) {
      deferred = nextEntry(journal, 'ScaleDeferred', 'ScaleFailed');
      controller.tick();
      assert.deepEqual((await deferred).reasons, ['ScaleDeferred'], `tick ${i}: still deferred`);
      assert.equal(appended.length, 2 + i, `tick ${i}: one append (${appended.join('; ')})`);
    }
    assert.equal(server.group.desired, 1, 'nothing changed yet');

    // The activity ended: the next tick's ask is made, journaled once.
    const made = nextEntry(journal, 'DeferredScaleRetried', 'ScaleDeferred', 'ScaleFailed');
    controller.tick();
    await made;
    await until(() => server.group.desired === 3 && provider.desired() === 3, 5000, 'scaled to 3');
    assert.deepEqual(appended, [
      'ManualScale 1→3 ×1',
      'ScaleDeferred 3→1 ×1',
      'ScaleDeferred 3→1 ×2',
      'ScaleDeferred 3→1 ×3',
      'ScaleDeferred 3→1 ×4',
      'DeferredScaleRetried 1→3 ×1',
    ]);
    assert.deepEqual(
      journal.entries({ group: 'web' }).map((e) => [e.reasons.join('+'), e.before, e.after, e.count ?? 1]),
      [
        ['Adopted', 1, 1, 1],
        ['ManualScale', 1, 3, 1],
        ['ScaleDeferred', 3, 1, ticks + 1],
        ['DeferredScaleRetried', 1, 3, 1],
      ],
    );
    assert.deepEqual(failed, []);
  });
});

/** manualController is a started Controller over one group `web` on `provider`, with no policy and no tick but the test's. */
async function manualController(
  t: TestContext,
  provider: AwsProvider,
  options: ReturnType<typeof awsTestOptions>,
) {
  const journal = new DecisionJournal();
  const web = groupConfig({ provider: options.config });
  const group = new GroupController({
    config: web,
    provider,
    journal,
    metrics: createMetrics({ defaultMetrics: false }),
    logger: { info() {}, warn() {}, error() {} },
    readMetrics: () => [],
  });
  const controller = new Controller({
    config: { controller: { interval: 3_600_000 }, groups: { web } } as unknown as Config,
    groups: [group],
    journal,
    logger: { info() {}, warn() {}, error() {} },
    backends: () => [],
  });
  t.after(() => controller.close());
  await controller.start({});
  return { controller, journal };
}

/** nextEntry is the next entry journaled with one of `reasons`. */
function nextEntry(journal: DecisionJournal, ...reasons: string[]): Promise<JournalEntry> {
  return new Promise((resolve) => {
    const listener = (e: JournalEntry) => {
      if (!e.reasons.some((r) => reasons.includes(r))) return;
      journal.off('entry', listener);
      resolve(e);
    };
    journal.on('entry', listener);
  });
}

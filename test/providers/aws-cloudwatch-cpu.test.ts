// CPU of an AWS group, read from CloudWatch as AWS target tracking's ASGAverageCPUUtilization reads
// it (AWS/EC2 CPUUtilization, AutoScalingGroupName, Average, 60 s). Before, the CPU window sampled
// only local processes: a `cpu` metric on an AWS group was missing on every decision ("no metric"),
// so the group never scaled on CPU. Against AwsServer (see aws-server.ts), which answers
// GetMetricData in AWS JSON 1.0 as the SDK sends it, through the real SDK clients over HTTP.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import {
  CloudWatchCpuSource,
  type Datapoint,
  MetricSourceError,
  newestCompleteDatapoint,
} from '../../src/metrics/index.js';
import type { Instance } from '../../src/providers/index.js';
import { startInProcess } from '../helpers/scaleplane.js';
import { until } from '../helpers/until.js';
import { AwsServer } from './aws-server.js';

process.env.AWS_ACCESS_KEY_ID ??= 'AKIDTEST';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test-secret';

const MINUTE = 60_000;
/** The start of the last whole minute: CloudWatch's newest complete 60-s period. */
const lastCompleteMinute = () => Math.floor(Date.now() / MINUTE) * MINUTE - MINUTE;

async function fake(instances: number): Promise<AwsServer> {
  const server = new AwsServer();
  await server.start();
  server.addInstances(instances);
  return server;
}

/** cpuGroup runs Scaleplane with one AWS worker group of 2..6 instances scaled on cpu 50. */
async function cpuGroup(t: TestContext, server: AwsServer): Promise<Scaleplane> {
  const app = await startInProcess(`
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0 }
controller: { interval: 200ms }
groups:
  web:
    provider: aws
    role: worker
    auto_scaling_group: web-asg
    region: us-east-1
    endpoint: ${server.url}
    instance_warmup: 0s
    poll_interval: 50ms
    min_instances: 1
    max_instances: 6
    scaling:
      metrics:
        - cpu: { target: 50 }
      behavior:
        scale_down: { stabilization_window: 0s }
`);
  // Scaleplane first: the fake closed under it, its provider's polls fail (ECONNREFUSED) in the log.
  t.after(async () => {
    await app.close();
    await server.close();
  });
  return app;
}

describe('aws: cpu from CloudWatch', { timeout: 120_000 }, () => {
  it('reads the newest complete datapoint, and none too old', () => {
    const now = 10 * MINUTE + 30_000; // half-way through minute 10
    const at = (minute: number, value: number): Datapoint => ({ at: minute * MINUTE, value });
    const cases: [string, Datapoint[], number, number | undefined][] = [
      ['the filling minute is left out', [at(10, 99), at(9, 40)], MINUTE, 40],
      ['newest of several, in any order', [at(7, 20), at(9, 40), at(8, 30)], MINUTE, 40],
      // Ended 3 min ago at most: CloudWatch's delay (detailed monitoring's 2 periods are less).
      ['ended 180 s ago: still read', [{ at: now - 240_000, value: 55 }], MINUTE, 55],
      ['ended 180.001 s ago: missing', [{ at: now - 240_001, value: 55 }], MINUTE, undefined],
      // Basic monitoring: two 5-min periods.
      ['300-s period ended 600 s ago: read', [{ at: now - 900_000, value: 70 }], 5 * MINUTE, 70],
      ['300-s period ended 601 s ago: missing', [{ at: now - 901_000, value: 70 }], 5 * MINUTE, undefined],
      ['none at all: missing, not 0', [], MINUTE, undefined],
      ['a non-number is no datapoint', [at(9, Number.NaN)], MINUTE, undefined],
    ];
    for (const [name, points, period, expected] of cases)
      assert.equal(newestCompleteDatapoint(points, period, now)?.value, expected, name);
  });

  it('asks GetMetricData for what target tracking reads; no datapoint is SOURCE_STALE, not 0', async (t) => {
    const server = await fake(0);
    t.after(() => server.close());
    const source = new CloudWatchCpuSource({
      autoScalingGroup: 'web-asg',
      region: 'us-east-1',
      endpoint: server.url,
    });
    t.after(() => source.close());
    const ready = [{ state: 'ready' }, { state: 'ready' }] as Instance[];
    const context = { group: 'web', instances: ready, now: 0 };
    await assert.rejects(source.read(context), (err: unknown) => {
      assert.ok(err instanceof MetricSourceError, `a MetricSourceError: ${err}`);
      assert.equal(err.code, 'SOURCE_STALE');
      assert.match(err.message, /AutoScalingGroupName=web-asg .*none at all/);
      return true;
    });
    const request = server.requests.find((r) => r.action === 'GetMetricData');
    assert.ok(request, `GetMetricData sent: ${server.requests.map((r) => r.action)}`);
    assert.equal(request.accessKey, process.env.AWS_ACCESS_KEY_ID, 'signed with the provider chain');
    const { Namespace, MetricName, Dimensions, Period, Stat } = request.params;
    assert.deepEqual(
      { Namespace, MetricName, Dimensions, Period, Stat },
      {
        Namespace: 'AWS/EC2',
        MetricName: 'CPUUtilization',
        Dimensions: 'AutoScalingGroupName=web-asg',
        Period: '60',
        Stat: 'Average',
      },
    );
    server.cpuDatapoints.push({ at: lastCompleteMinute(), average: 72.5 });
    assert.deepEqual(await source.read(context), [72.5], 'the group average');
    assert.deepEqual(
      await source.read({ ...context, instances: [] }),
      [72.5],
      'read before the provider lists the instances',
    );
    server.cpuDatapoints.length = 0;
    assert.deepEqual(
      await source.read({ ...context, instances: [] }),
      [],
      'no instance, no datapoint: no load',
    );
  });

  it('CPUUtilization 80 % against a target of 50 scales 2 instances out to 4', async (t) => {
    const server = await fake(2);
    server.cpuDatapoints.push({ at: lastCompleteMinute(), average: 80 });
    const app = await cpuGroup(t, server);
    // The first scale-out, from the journal: on a loaded machine it can come before start() returns
    // (a listener attached then saw only the next one, 4 → 6, the new instances at 80 % too).
    const scaledOut = () =>
      app.controller.journal
        .entries({ group: 'web' })
        .find((e) => e.source === 'policy' && e.after > e.before);
    await until(() => scaledOut() !== undefined, 20_000, 'a scale-out').catch((err: Error) => {
      // Say what the policy saw, not only that nothing happened.
      throw new Error(`${err.message}; last decision: ${app.controller.group('web').lastDecision?.message}`);
    });
    const out = scaledOut()!;
    assert.deepEqual([out.before, out.after, out.reasons[0]], [2, 4, 'AboveTarget']);
    const metric = (out.inputs.metrics as { name: string; average: number; target: number }[])[0]!;
    assert.deepEqual([metric.name, metric.average, metric.target], ['cpu', 80, 50]);
    await until(() => server.group.desired >= 4, 10_000, 'the Auto Scaling group asked for 4');
  });

  it('no datapoint is missing: no scale-in, status shows no average, an alert says why', async (t) => {
    const server = await fake(2);
    const app = await cpuGroup(t, server);
    const group = app.controller.group('web');
    // Decisions are made (one every 200 ms), on a missing metric; awaited, not assumed after a time.
    const seen = new Set<unknown>();
    await until(
      () => {
        if (group.lastDecision) seen.add(group.lastDecision);
        return seen.size >= 10 && app.alerts.isFiring('metric-source:web:cpu');
      },
      // The first poll, before the provider listed any instance, read no instance (missing, no
      // alert); the next, a poll interval (15 s) later, finds them and no datapoint.
      40_000,
      'decisions on a missing cpu, with its alert firing',
    );
    assert.ok(
      group.lastDecision?.proposals[0]?.reason === 'MetricMissing',
      `cpu is missing: ${JSON.stringify(group.lastDecision?.proposals)}`,
    );
    assert.equal(app.controller.status('web').metrics[0]?.average, null, 'status: no cpu average');
    assert.equal(group.desired(), 2, 'no scale-in on a missing metric');
    assert.equal(server.group.desired, 2, 'the Auto Scaling group still counts 2');
    const alert = app.alerts.active().find((a) => a.key === 'metric-source:web:cpu');
    assert.match(alert?.summary ?? '', /no complete AWS\/EC2 CPUUtilization datapoint/);
  });
});

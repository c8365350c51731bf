import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import type { GroupConfig } from '../../src/config/types.js';
import {
  Controller,
  DecisionJournal,
  GroupController,
  PolicyMemoryFile,
} from '../../src/controller/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import {
  DEFAULT_STARTUP,
  groupPolicy,
  groupStartup,
  type LoadSample,
  type ObservedMetric,
} from '../../src/policy/index.js';
import type { Instance, Provider, ProviderEvents } from '../../src/providers/index.js';
import { configuredGroup } from '../../src/sim/index.js';
import { MemoryProvider } from '../helpers/memory-provider.js';

const silent = { info() {}, warn() {}, error() {} };

/** A config with an AWS group (90 s warm-up) and a local one, both on `policy`. */
function config(policy: string, interval = '15s') {
  return parseConfig(
    `controller: { interval: ${interval} }
groups:
  web:
    provider: aws
    auto_scaling_group: shop-web
    instance_warmup: 90s
    min_instances: 1
    max_instances: 10
    scaling: { policy: ${policy}, metrics: [{ cpu: { target: 70 } }] }
  local:
    command: node server.js
    max_instances: 4
    scaling: { policy: ${policy}, metrics: [{ cpu: { target: 70 } }] }
`,
    { baseDir: '/srv/app' },
  );
}

describe('groupPolicy: the live forecast horizon is start-up + controller.interval', () => {
  for (const preset of ['default', 'predictive']) {
    it(`${preset}: an AWS group with a 90 s warm-up looks 105 s ahead at a 15 s interval`, () => {
      const c = config(preset);
      assert.equal(groupStartup(c.groups.web!), 90_000);
      const policy = groupPolicy(c.groups.web!, { interval: c.controller.interval });
      assert.equal(policy?.predictive?.horizon, 105_000);
    });
  }

  it('a local group, whose config tells no start-up, assumes DEFAULT_STARTUP', () => {
    const c = config('default', '20s');
    assert.equal(groupStartup(c.groups.local!), DEFAULT_STARTUP);
    const policy = groupPolicy(c.groups.local!, { interval: c.controller.interval });
    assert.equal(policy?.predictive?.horizon, DEFAULT_STARTUP + 20_000);
  });

  it("an explicit start-up (simulate --startup) wins over the group's", () => {
    const c = config('predictive');
    const policy = groupPolicy(c.groups.web!, { interval: 15_000, startup: 60_000 });
    assert.equal(policy?.predictive?.horizon, 75_000);
  });

  it("GroupController runs the group's policy with the controller's interval", () => {
    const c = config('default', '30s');
    const group = new GroupController({
      config: c.groups.web!,
      provider: new MemoryProvider('web'),
      journal: new DecisionJournal(),
      metrics: createMetrics({ defaultMetrics: false }),
      logger: silent,
      readMetrics: () => [],
      interval: c.controller.interval,
    });
    assert.equal(group.policy?.predictive?.horizon, 120_000);
    // A reload keeps the interval: the new warm-up, the same 30 s.
    const reloaded = config('default', '30s').groups.web!;
    if (reloaded.provider.provider !== 'aws') throw new Error('aws group expected');
    reloaded.provider.instanceWarmup = 45_000;
    group.reconfigure(reloaded, 1_000, { by: 'test', changes: ['groups.web.instance_warmup'] });
    assert.equal(group.policy?.predictive?.horizon, 75_000);
  });
});

describe('scaling.startup: the start-up, full stop', () => {
  const yaml = (provider: string) =>
    parseConfig(
      `groups:
  web:
    ${provider}
    max_instances: 4
    scaling: { policy: default, startup: 45s, metrics: [{ cpu: { target: 70 } }] }
`,
      { baseDir: '/srv/app' },
    );

  for (const provider of [
    'command: node server.js',
    'provider: aws\n    auto_scaling_group: a\n    instance_warmup: 90s',
  ]) {
    it(`${provider.split('\n')[0]}: groupStartup, the live horizon and simulate --config use it`, () => {
      const c = yaml(provider);
      assert.equal(groupStartup(c.groups.web!), 45_000);
      assert.equal(groupPolicy(c.groups.web!, { interval: 15_000 })?.predictive?.horizon, 60_000);
      // simulate --config: the run's start-up (its own --startup flag still wins, as `timing.startup`).
      assert.equal(configuredGroup(c, 'web').startup, 45_000);
      assert.equal(
        groupPolicy(c.groups.web!, { interval: 15_000, startup: 5_000 })?.predictive?.horizon,
        20_000,
      );
    });
  }
});

/** TimedProvider lists instances the test writes, start and ready times included. */
class TimedProvider extends EventEmitter<ProviderEvents> implements Provider {
  readonly kind = 'timed';
  list: Instance[] = [];
  instances(): readonly Instance[] {
    return this.list;
  }
  desired(): number {
    return this.list.length;
  }
  async scaleTo(): Promise<void> {}
  async close(): Promise<void> {}
  add(id: string, startedAt: number, readyAt?: number): void {
    this.list = [
      ...this.list.filter((i) => i.id !== id),
      {
        id,
        group: 'web',
        address: `127.0.0.1:${10_000 + this.list.length}`,
        state: readyAt === undefined ? 'starting' : 'ready',
        startedAt,
        ...(readyAt !== undefined && { readyAt }),
      },
    ];
  }
}

describe('GroupController learns the start-up from the instances it started', () => {
  const T0 = 1_800_000_000_000;
  const local = (startup?: string) =>
    parseConfig(
      `controller: { interval: 15s }
groups:
  web:
    command: node server.js
    max_instances: 8
    scaling: { policy: default, ${startup ? `startup: ${startup}, ` : ''}metrics: [{ cpu: { target: 70 } }] }
`,
      { baseDir: '/srv/app' },
    );

  function group(
    config: GroupConfig,
    provider: TimedProvider,
    cpu = { value: 50 },
    memory?: PolicyMemoryFile,
  ) {
    const journal = new DecisionJournal();
    const logged: string[] = [];
    const g = new GroupController({
      config,
      provider,
      journal,
      metrics: createMetrics({ defaultMetrics: false }),
      logger: { ...silent, info: (_o: object, msg?: string) => logged.push(msg ?? '') },
      readMetrics: (instances) => [
        {
          name: 'cpu',
          target: 70,
          values: instances.filter((i) => i.state === 'ready').map(() => cpu.value),
        },
      ],
      interval: 15_000,
      ...(memory && { memory }),
    });
    const learnt = () => journal.entries({}).filter((e) => e.reasons.includes('StartupLearnt'));
    return { g, journal, learnt, logged };
  }

  it('takes the median of started instances, never an adopted one, rebuilds the policy with its state, and says so once', async () => {
    const provider = new TimedProvider();
    // Adopted: running for an hour; its start-up (10 min, a restart of its node) is none of ours.
    provider.add('web-0', T0 - 3_600_000, T0 - 3_000_000);
    const { g, learnt } = group(local().groups.web!, provider);
    assert.deepEqual(g.startup, { ms: DEFAULT_STARTUP, source: 'default', observed: 0 });
    assert.equal(g.policy?.predictive?.horizon, DEFAULT_STARTUP + 15_000);
    await g.start(T0);
    let now = T0;
    // Three minutes of decisions: the forecaster's history must survive the rebuild.
    for (; now < T0 + 180_000; now += 15_000) g.evaluate(now);
    const buckets = g.predictiveBuckets;
    assert.ok(buckets >= 2, `buckets ${buckets}`);
    const before = g.policy;

    provider.add('web-1', now); // starting: nothing to measure yet
    g.evaluate(now);
    assert.equal(g.startup.observed, 0);
    provider.add('web-1', now, now + 34_000);
    now += 45_000;
    g.evaluate(now);
    assert.deepEqual(g.startup, { ms: 34_000, source: 'learnt', observed: 1, learnt: 34_000 });
    assert.equal(g.policy?.predictive?.horizon, 49_000);
    assert.notEqual(g.policy, before);
    assert.ok(g.predictiveBuckets >= buckets, 'the policy state (forecast history) was kept');
    assert.equal(learnt().length, 1);
    assert.equal(learnt()[0]!.message, 'start-up learnt: 34 s, median of 1 instance; forecast horizon 49 s');
    assert.equal(learnt()[0]!.inputs.horizon, 49_000);

    // Close to 34 s: held, not journaled again, however many ticks see it.
    provider.add('web-2', now, now + 37_000);
    now += 60_000;
    g.evaluate(now);
    g.evaluate(now + 15_000);
    assert.deepEqual(g.startup, { ms: 34_000, source: 'learnt', observed: 2, learnt: 35_500 });
    assert.equal(learnt().length, 1);

    // Slower pulls move the median by more than 25 % and 2 s: rebuilt again, said again.
    now += 15_000;
    for (const id of ['web-3', 'web-4', 'web-5']) provider.add(id, now, now + 60_000);
    now += 75_000;
    g.evaluate(now);
    assert.deepEqual(g.startup, { ms: 60_000, source: 'learnt', observed: 5, learnt: 60_000 });
    assert.equal(g.policy?.predictive?.horizon, 75_000);
    assert.equal(learnt().length, 2);
    assert.match(
      learnt()[1]!.message,
      /^start-up learnt: 60 s, median of 5 instances; forecast horizon 75 s$/,
    );
  });

  it('keeps what it learnt across a restart, in the predictive memory file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-startup-'));
    try {
      const file = join(dir, 'web.json');
      const provider = new TimedProvider();
      const first = group(local().groups.web!, provider, { value: 50 }, new PolicyMemoryFile(file));
      await first.g.start(T0);
      provider.add('web-1', T0, T0 + 34_000);
      first.g.evaluate(T0 + 45_000);
      first.g.evaluate(T0 + 60_000);
      assert.equal(first.g.startup.ms, 34_000);
      await first.g.flushMemory();
      assert.deepEqual(JSON.parse(await readFile(file, 'utf8')).startups, [34_000]);

      // The restarted controller adopts web-1 (not measured) and starts from what was learnt.
      const again = group(local().groups.web!, provider, { value: 50 }, new PolicyMemoryFile(file));
      await again.g.start(T0 + 120_000);
      assert.deepEqual(again.g.startup, { ms: 34_000, source: 'learnt', observed: 1, learnt: 34_000 });
      assert.equal(again.g.policy?.predictive?.horizon, 49_000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('learns nothing before start() (a standby) and nothing from what runs at start', async () => {
    const provider = new TimedProvider();
    const { g } = group(local().groups.web!, provider);
    provider.add('web-0', T0, T0 + 2_000);
    g.evaluate(T0 + 5_000);
    assert.equal(g.startup.observed, 0);
    // Adopted while starting (created by the previous leader just before): not ours either.
    provider.add('web-a', T0 + 9_500);
    await g.start(T0 + 10_000);
    provider.add('web-a', T0 + 9_500, T0 + 30_000);
    provider.add('web-1', T0 + 10_000, T0 + 12_000);
    g.evaluate(T0 + 30_000);
    assert.deepEqual(g.startup, { ms: 2_000, source: 'learnt', observed: 1, learnt: 2_000 });
  });

  it('scaling.startup wins: observed start-ups are only shown; a reload that drops it takes them', async () => {
    const provider = new TimedProvider();
    const { g, learnt } = group(local('45s').groups.web!, provider);
    await g.start(T0);
    provider.add('web-1', T0, T0 + 3_000);
    g.evaluate(T0 + 15_000);
    assert.deepEqual(g.startup, { ms: 45_000, source: 'config', observed: 1, learnt: 3_000 });
    assert.equal(g.policy?.predictive?.horizon, 60_000);
    assert.equal(learnt().length, 0);

    g.reconfigure(local().groups.web!, T0 + 20_000, { by: 'test', changes: ['groups.web.scaling'] });
    assert.deepEqual(g.startup, { ms: 3_000, source: 'learnt', observed: 1, learnt: 3_000 });
    assert.equal(g.policy?.predictive?.horizon, 18_000);
    // And a reload that sets it again wins again.
    g.reconfigure(local('20s').groups.web!, T0 + 30_000, { by: 'test', changes: ['groups.web.scaling'] });
    assert.equal(g.policy?.predictive?.horizon, 35_000);
    // A reload that changes something else keeps what was learnt.
    g.reconfigure(local().groups.web!, T0 + 40_000, { by: 'test', changes: ['groups.web.scaling'] });
    g.reconfigure(local().groups.web!, T0 + 50_000, { by: 'test', changes: ['groups.web.max_instances'] });
    assert.equal(g.policy?.predictive?.horizon, 18_000);
  });

  it('a policy without a forecast keeps count of start-ups but journals nothing; status shows the start-up', async () => {
    const config = parseConfig(
      `groups:
  web:
    command: node server.js
    max_instances: 4
    scaling: { metrics: [{ cpu: { target: 70 } }] }
`,
      { baseDir: '/srv/app' },
    ).groups.web!;
    const provider = new TimedProvider();
    const { g, learnt, logged } = group(config, provider);
    await g.start(T0);
    provider.add('web-1', T0, T0 + 3_000);
    g.evaluate(T0 + 15_000);
    assert.equal(g.startup.ms, 3_000);
    assert.equal(learnt().length, 0);
    assert.ok(logged.includes('start-up learnt: 3 s, median of 1 instance'), logged.join('\n'));

    const controller = new Controller({
      config: parseConfig('groups: { web: { command: x } }', { baseDir: '/' }),
      groups: [g],
      journal: new DecisionJournal(),
      backends: () => [],
      logger: silent,
    });
    assert.deepEqual(controller.status('web').startup, {
      ms: 3_000,
      source: 'learnt',
      observed: 1,
      learnt: 3_000,
    });
  });
});

describe('the decision folds in the load samples of every tick since the last one', () => {
  // policy: default (panic on saturation); two ready instances whose 30-s CPU average is 45 %.
  function groupWith(takeSamples?: () => LoadSample[]) {
    const c = parseConfig(
      `groups:
  web:
    command: node server.js
    max_instances: 10
    scaling: { policy: default, metrics: [{ cpu: { target: 70 } }] }
`,
      { baseDir: '/srv/app' },
    );
    const provider = new MemoryProvider('web');
    const g = new GroupController({
      config: c.groups.web!,
      provider,
      journal: new DecisionJournal(),
      metrics: createMetrics({ defaultMetrics: false }),
      logger: silent,
      readMetrics: (instances) => [{ name: 'cpu', target: 70, values: instances.map(() => 45) }],
      ...(takeSamples && { takeSamples }),
      interval: 15_000,
    });
    return { g, provider };
  }
  // The last 6 of 15 one-second ticks pinned at 100 % CPU: a burst the 30-s average barely shows.
  const T = 1_000_000;
  const burst = (): LoadSample[] =>
    Array.from({ length: 15 }, (_, i) => ({
      at: T - 15_000 + i * 1000,
      load: i >= 9 ? 200 / 70 : 60 / 70,
      saturated: i >= 9,
    }));

  it('panics on a burst within the interval that the 30-s window average hides', async () => {
    const { g, provider } = groupWith(burst);
    await provider.scaleTo(2);
    const entry = g.evaluate(T);
    assert.ok(entry, 'the burst changed the desired count');
    assert.ok(entry.after >= 4, `desired ${entry.after}`);
    assert.ok(entry.reasons.includes('Saturated'), entry.reasons.join(','));
    assert.equal(provider.desired(), entry.after);
  });

  it('without the tick samples, the same readings change nothing', async () => {
    const { g, provider } = groupWith();
    await provider.scaleTo(2);
    assert.equal(g.evaluate(T), undefined);
    assert.equal(provider.desired(), 2);
  });
});

describe('a metric missing at decision time teaches the forecast nothing', () => {
  // Two ready instances at 10 % CPU of a 70 % target and a Prometheus total that, while read, says
  // 8 instances' worth. No tick samples, so each decision derives its sample from the readings.
  function groupReading(prometheus: () => ObservedMetric) {
    const provider = new MemoryProvider('web');
    const g = new GroupController({
      config: config('predictive').groups.local!,
      provider,
      journal: new DecisionJournal(),
      metrics: createMetrics({ defaultMetrics: false }),
      logger: silent,
      readMetrics: (instances) => [
        { name: 'cpu', target: 70, values: instances.map(() => 10) },
        prometheus(),
      ],
      interval: 15_000,
    });
    return { g, provider };
  }
  const up: ObservedMetric = { name: 'prometheus', target: 100, kind: 'total', values: [800] };
  const down: ObservedMetric = { ...up, values: [], error: 'connect ECONNREFUSED 127.0.0.1:9090' };

  it('learns no bucket from CPU alone while Prometheus is down, and learns once it is back', async () => {
    let prometheus = down;
    const { g, provider } = groupReading(() => prometheus);
    await provider.scaleTo(2);
    // Five minutes of decisions every 15 s: the forecast's minute buckets would close four times.
    for (let t = 0; t <= 300_000; t += 15_000) g.evaluate(1_000_000 + t);
    assert.equal(g.predictiveBuckets, 0, 'the buckets would say 0.29 instances where the load was 8');
    prometheus = up;
    for (let t = 315_000; t <= 600_000; t += 15_000) g.evaluate(1_000_000 + t);
    assert.ok(g.predictiveBuckets > 0, 'with every metric read, the forecast learns');
  });
});

describe('complete samples (PodMetrics): no new sample since the last decision is nothing new', () => {
  // A Kubernetes group read from metrics-server alone leaves one sample per scrape (see
  // GroupReadings.samplesComplete). Decisions between two scrapes get none, and must not derive one
  // from the readings: that counted the last measurement again, as load seen at each decision.
  function groupOf(samplesComplete: boolean) {
    const provider = new MemoryProvider('web');
    const g = new GroupController({
      config: config('predictive').groups.local!,
      provider,
      journal: new DecisionJournal(),
      metrics: createMetrics({ defaultMetrics: false }),
      logger: silent,
      readMetrics: (instances) => [{ name: 'cpu', target: 70, values: instances.map(() => 60) }],
      takeSamples: () => [],
      samplesComplete: () => samplesComplete,
      interval: 15_000,
    });
    return { g, provider };
  }

  it('five minutes of decisions without a new sample learn no forecast bucket', async () => {
    const { g, provider } = groupOf(true);
    await provider.scaleTo(2);
    for (let t = 0; t <= 300_000; t += 15_000) g.evaluate(1_000_000 + t);
    assert.equal(g.predictiveBuckets, 0, `buckets learnt from re-counted samples: ${g.predictiveBuckets}`);
  });

  it('incomplete samples (no ticks at all): the decision derives its sample as before', async () => {
    const { g, provider } = groupOf(false);
    await provider.scaleTo(2);
    for (let t = 0; t <= 300_000; t += 15_000) g.evaluate(1_000_000 + t);
    assert.ok(g.predictiveBuckets > 0, `derived samples fill buckets, got ${g.predictiveBuckets}`);
  });
});

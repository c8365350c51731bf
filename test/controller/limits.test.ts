// limits.max_step and limits.max_instances_total: a manual scale beyond them is refused with
// nothing changed (409 on the API); the autoscaler is held at the total with a reason code.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import type { Config, LimitsConfig } from '../../src/config/types.js';
import {
  Controller,
  DecisionJournal,
  GroupController,
  LimitExceededError,
} from '../../src/controller/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { startApi } from '../helpers/api-harness.js';
import { groupConfig } from '../helpers/group-config.js';
import { MemoryProvider } from '../helpers/memory-provider.js';

const silent = { info() {}, warn() {}, error() {} };

/** Two groups, web (autoscaled on a CPU value the test sets) and api (by hand), 1..10 each. */
async function setup(limits: LimitsConfig, cpu = { value: 50 }) {
  const journal = new DecisionJournal();
  const metrics = createMetrics({ defaultMetrics: false });
  const providers = { web: new MemoryProvider('web'), api: new MemoryProvider('api') };
  const web = groupConfig({
    name: 'web',
    maxInstances: 10,
    scaling: {
      metrics: [{ type: 'cpu', target: 50 }],
      tolerance: 0.1,
      scaleDownStabilization: 0,
      scaleUpStabilization: 0,
      metricWindow: 1_000,
    },
  });
  const api = groupConfig({ name: 'api', maxInstances: 10 });
  const groups = [web, api].map(
    (config) =>
      new GroupController({
        config,
        provider: providers[config.name as 'web' | 'api'],
        journal,
        metrics,
        logger: silent,
        readMetrics: (instances) => [{ name: 'cpu', target: 50, values: instances.map(() => cpu.value) }],
      }),
  );
  let now = 0;
  const controller = new Controller({
    config: { controller: { interval: 60_000 }, groups: { web, api }, limits } as unknown as Config,
    groups,
    journal,
    logger: silent,
    backends: () => [],
    now: () => now,
  });
  await controller.start();
  controller.close();
  return { controller, providers, journal, cpu, advance: (ms: number) => (now += ms) };
}

describe('limits on manual scaling', () => {
  const cases: {
    name: string;
    limits: LimitsConfig;
    action: ['scale-out' | 'scale-in' | 'set', number];
    refused?: 'max_step' | 'max_instances_total';
  }[] = [
    { name: 'a step of max_step passes', limits: { maxStep: 3 }, action: ['scale-out', 3] },
    {
      name: 'a step over max_step',
      limits: { maxStep: 3 },
      action: ['scale-out', 4],
      refused: 'max_step',
    },
    { name: 'set counts as a step too', limits: { maxStep: 2 }, action: ['set', 4], refused: 'max_step' },
    {
      name: 'up to the total passes (web 1 + api 1 → web 5 + api 1 = 6)',
      limits: { maxInstancesTotal: 6 },
      action: ['set', 5],
    },
    {
      name: 'one past the total',
      limits: { maxInstancesTotal: 6 },
      action: ['set', 6],
      refused: 'max_instances_total',
    },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.refused ?? 'done'}`, async () => {
      const { controller, providers, journal } = await setup(c.limits);
      const entries = journal.entries().length;
      const [action, n] = c.action;
      if (c.refused === undefined) {
        controller.scale('web', action, n);
        assert.notEqual(providers.web.desired(), 1);
        return;
      }
      assert.throws(
        () => controller.scale('web', action, n),
        (err: unknown) => err instanceof LimitExceededError && err.limit === c.refused,
      );
      assert.equal(providers.web.desired(), 1, 'nothing changed');
      assert.equal(journal.entries().length, entries, 'nothing journaled');
    });
  }

  it('scaling in is allowed above a total lowered meanwhile', async () => {
    const { controller, providers } = await setup({ maxInstancesTotal: 20 });
    controller.scale('web', 'set', 8);
    const lowered = await setup({ maxInstancesTotal: 3 });
    // Same counts, lower total: in is fine, out is not.
    await lowered.providers.web.scaleTo(8);
    lowered.controller.scale('web', 'scale-in', 1);
    assert.equal(lowered.providers.web.desired(), 7);
    assert.throws(() => lowered.controller.scale('api', 'scale-out', 1), LimitExceededError);
    assert.equal(providers.web.desired(), 8);
  });
});

describe('limits on the autoscaler', () => {
  it('holds a scale-out at max_instances_total, journaled once as TotalInstancesLimit', async () => {
    const { controller, providers, journal, cpu, advance } = await setup({ maxInstancesTotal: 4 });
    controller.scale('api', 'set', 2);
    cpu.value = 400; // web wants 8; api holds 2 of the 4
    advance(1_000);
    const [entry] = controller.tick();
    assert.deepEqual([entry?.before, entry?.after], [1, 2]);
    assert.ok(entry?.reasons.includes('TotalInstancesLimit'), `reasons: ${entry?.reasons}`);
    assert.equal(providers.web.desired(), 2);
    advance(20_000); // past the default scale-up rate window
    const [held] = controller.tick();
    assert.deepEqual([held?.before, held?.after], [2, 2]);
    assert.ok(held?.reasons.includes('TotalInstancesLimit'), "held?.reasons.includes('TotalInstancesLimit')");
    const count = journal.entries().length;
    advance(20_000);
    assert.deepEqual(controller.tick(), [], 'the same hold is journaled once');
    assert.equal(journal.entries().length, count);
    assert.equal(providers.web.desired() + providers.api.desired(), 4);
  });
});

describe('limits on the live API', () => {
  it('answers 409 with the limit named, nothing changed', async (t) => {
    const api = await startApi({ limits: { maxStep: 2, maxInstancesTotal: 3 } });
    t.after(api.close);
    const scale = (body: unknown) =>
      api.call('/api/scalability/scale-group', { method: 'POST', body: JSON.stringify(body) });
    const step = await scale({ group: 'web', action: 'scale-out', instances: 3 });
    assert.equal(step.status, 409);
    assert.equal(step.body.code, 'SCALEPLANE_LIMIT_EXCEEDED');
    assert.match(step.body.error, /limits\.max_step/);
    const total = await scale({ group: 'web', action: 'set', instances: 4 });
    assert.equal(total.status, 409, 'set 4 is a step of 3');
    const over = await scale({ group: 'web', action: 'scale-out', instances: 2 });
    assert.equal(over.status, 200);
    const beyond = await scale({ group: 'web', action: 'scale-out', instances: 1 });
    assert.equal(beyond.status, 409);
    assert.match(beyond.body.error, /limits\.max_instances_total/);
    assert.equal(api.provider.desired(), 3);
  });
});

describe('limits in the config', () => {
  const yaml = (limits: string) =>
    `limits: ${limits}\ngroups:\n  web: { command: x, min_instances: 2, max_instances: 5 }\n  api: { command: x, min_instances: 2, max_instances: 5 }\n`;
  it('reads max_instances_total and max_step', () => {
    const config = parseConfig(yaml('{ max_instances_total: 8, max_step: 2 }'), { baseDir: '/' });
    assert.deepEqual(config.limits, { maxInstancesTotal: 8, maxStep: 2 });
  });
  it('refuses a total below what the groups start with, naming the key and line', () => {
    assert.throws(
      () => parseConfig(yaml('{ max_instances_total: 3 }'), { baseDir: '/' }),
      /limits\.max_instances_total \(line 1\): the groups start with 4 instances/,
    );
  });
  it('refuses max_step 0', () => {
    assert.throws(
      () => parseConfig(yaml('{ max_step: 0 }'), { baseDir: '/' }),
      /limits\.max_step \(line 1\)/,
    );
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import { DecisionJournal, GroupController } from '../../src/controller/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { DEFAULT_STARTUP, groupPolicy, groupStartup } from '../../src/policy/index.js';
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

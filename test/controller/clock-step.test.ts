// A step of the system clock (NTP, a VM resumed, `date -s`) moves no decision window: the Controller
// and the samples it reads run on the decision clock (src/clock.ts), the wall clock as of start plus
// monotonic time. The step is made by replacing Date.now; performance.now, the monotonic clock, is
// left alone. Before, both read Date.now: a step back of 10 min made CPU missing for 31 s, a step
// forward ended the 5-min scale-down stabilization at once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Config } from '../../src/config/types.js';
import { Controller, DecisionJournal, GroupController } from '../../src/controller/index.js';
import { createMetrics, GroupReadings, type MetricSource } from '../../src/metrics/index.js';
import type { Instance } from '../../src/providers/index.js';
import { groupConfig } from '../helpers/group-config.js';
import { MemoryProvider } from '../helpers/memory-provider.js';

const silent = { info() {}, warn() {}, error() {} };
const STEP = 10 * 60_000;

/**
 * A group scaled on CPU (target 50 %, HPA's 5-min scale-down window, a 30-s metric window) wired
 * as the app wires it: GroupReadings dates the CPU samples, the Controller its decisions, each on
 * its default clock. Every instance uses `cpu.percent`; only the sampling I/O is faked.
 */
async function setup(cpu: { percent: number }) {
  const journal = new DecisionJournal();
  const provider = new MemoryProvider('web');
  const config = groupConfig({
    initialInstances: 2,
    maxInstances: 10,
    scaling: {
      metrics: [{ type: 'cpu', target: 50 }],
      tolerance: 0.1,
      scaleDownStabilization: 300_000,
      scaleUpStabilization: 0,
      metricWindow: 30_000,
    },
  });
  // The memory provider's instances have no pid: one per instance, as a local group's have.
  const withPids = (instances: readonly Instance[]) => instances.map((i, n) => ({ ...i, pid: 4000 + n }));
  const readings = new GroupReadings({
    group: config,
    instances: () => withPids(provider.instances()),
    sampleCpu: (pgids) => new Map(pgids.map((pgid) => [pgid, cpu.percent])),
    sampleMemory: () => new Map(),
    memoryMaxAge: 10_000,
    createSource: (): MetricSource => {
      throw new Error('no polled source in these tests');
    },
    interval: 1000,
    onSourceError: () => {},
  });
  const group = new GroupController({
    config,
    provider,
    journal,
    metrics: createMetrics({ defaultMetrics: false }),
    logger: silent,
    readMetrics: (instances, now) => readings.read(instances, now),
    takeSamples: () => readings.takeSamples(),
  });
  const controller = new Controller({
    config: { controller: { interval: 60_000 }, groups: { web: config } } as unknown as Config,
    groups: [group],
    journal,
    logger: silent,
    backends: () => [],
  });
  await controller.start();
  // The test drives the loop (tick) itself.
  controller.close();
  return { controller, group, provider, readings };
}

/** sampleLater takes a CPU sample once some monotonic time has passed since the previous one. */
async function sampleLater(readings: GroupReadings): Promise<void> {
  const since = performance.now();
  while (performance.now() - since < 3) await delay(3);
  readings.sample();
}

/** stepWallClock moves Date.now by `ms` until the returned function puts it back. */
function stepWallClock(ms: number): () => void {
  const real = Date.now;
  Date.now = () => real() + ms;
  return () => {
    Date.now = real;
  };
}

describe('a step of the system clock', () => {
  it('back 10 min: CPU is not missing and the decision does not change', async (t) => {
    const cpu = { percent: 50 };
    const { controller, group, provider, readings } = await setup(cpu);
    readings.sample(); // baselines
    await sampleLater(readings);
    controller.tick();
    const before = group.lastDecision;
    assert.deepEqual(
      before?.reasons,
      ['WithinTolerance', 'DesiredWithinRange'],
      `before: ${before?.message}`,
    );
    assert.equal(before?.proposals[0]?.average, 50, 'before the step: 50 % read');

    const restore = stepWallClock(-STEP);
    t.after(restore);
    await sampleLater(readings);
    controller.tick();
    restore();
    const after = group.lastDecision;
    assert.equal(
      after?.proposals[0]?.average,
      50,
      `after the step: 50 % read, not missing (${after?.message})`,
    );
    assert.deepEqual(after?.reasons, before?.reasons, 'the same decision');
    assert.equal(provider.desired(), 2, 'the count is unchanged');
  });

  it('forward 10 min: a scale-down still waits out the 5-min stabilization window', async (t) => {
    const cpu = { percent: 80 };
    const { controller, group, provider, readings } = await setup(cpu);
    readings.sample(); // baselines
    await sampleLater(readings);
    const up = controller.tick();
    assert.deepEqual(
      up.map((e) => [e.before, e.after]),
      [[2, 4]],
      'scaled out: 2 × 80 % / 50 % → 4',
    );
    // The load goes; the new instances get their baselines before the step.
    cpu.percent = 0;
    await sampleLater(readings);

    const restore = stepWallClock(STEP);
    t.after(restore);
    await sampleLater(readings);
    const down = controller.tick();
    restore();
    const decision = group.lastDecision;
    const reactive = decision?.stages.find((s) => s.stage === 'reactive')?.desired;
    assert.ok(reactive !== undefined && reactive < 4, `the load asks for fewer than 4 (${reactive})`);
    assert.deepEqual(down, [], `nothing journaled: ${decision?.message}`);
    assert.equal(provider.desired(), 4, 'held at 4 for the rest of the window');
    assert.ok(
      decision?.reasons.includes('ScaleDownStabilized'),
      `held by stabilization: ${decision?.reasons}`,
    );
  });
});

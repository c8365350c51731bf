import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DecisionJournal, GroupController, PolicyMemoryFile } from '../../src/controller/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import {
  initialScalingState,
  memoryOf,
  observe,
  presetPolicy,
  restoreMemory,
  type ScalingState,
} from '../../src/policy/index.js';
import { groupConfig } from '../helpers/group-config.js';
import { MemoryProvider } from '../helpers/memory-provider.js';

const silent = { info() {}, warn() {}, error() {} };
const MINUTE = 60_000;

/** A noisy load, in instances at target, one sample per 15 s. */
function loadAt(t: number): number {
  const minute = Math.floor(t / MINUTE);
  return 3 + 2 * Math.sin(minute / 30) + ((minute * 7919) % 13) / 6;
}

function controller(memory: PolicyMemoryFile | undefined, cpu: { value: number }) {
  const config = groupConfig({
    maxInstances: 40,
    scaling: {
      policy: 'default',
      metrics: [{ type: 'cpu', target: 90 }],
      tolerance: 0.1,
      scaleDownStabilization: 0,
      scaleUpStabilization: 0,
      metricWindow: 1_000,
    },
  });
  const provider = new MemoryProvider('web');
  const group = new GroupController({
    config,
    provider,
    journal: new DecisionJournal(),
    metrics: createMetrics({ defaultMetrics: false }),
    logger: silent,
    // Every instance reports the same CPU: the load spread over what runs.
    readMetrics: (instances) => [
      {
        name: 'cpu',
        target: 90,
        values: instances.map(() => Math.min(100, (cpu.value * 90) / Math.max(1, instances.length))),
      },
    ],
    ...(memory && { memory }),
  });
  return { group, provider };
}

describe('predictive memory', () => {
  const spec = presetPolicy('default', {
    minInstances: 1,
    maxInstances: 40,
    startup: 60_000,
    interval: 15_000,
  }).policy.predictive!;

  it('round-trips through JSON and keeps only the history the spec reads back', () => {
    let state: ScalingState = initialScalingState;
    for (let t = 0; t < 300 * MINUTE; t += 15_000) {
      state = observe(
        {
          ...presetPolicy('default', { minInstances: 1, maxInstances: 40, startup: 60_000, interval: 15_000 })
            .policy,
        },
        state,
        [{ at: t, load: loadAt(t), saturated: false }],
        t,
      );
    }
    const memory = JSON.parse(JSON.stringify(memoryOf(spec, state)));
    // The default reads an hour of buckets back (its noise window), not all 300.
    assert.ok(memory.buckets.length <= 62 && memory.buckets.length >= 60, String(memory.buckets.length));
    const { state: back, restored } = restoreMemory(spec, initialScalingState, memory);
    assert.equal(restored, memory.buckets.length);
    assert.deepEqual(back.forecaster, state.forecaster);
    // The default's learnt combination and noise fits are part of what comes back.
    assert.ok(back.forecaster?.fit && back.forecaster.noiseWeights, 'fits restored');
    assert.deepEqual(back.openBucket, state.openBucket);
    // A stored fit that is not numbers drops the forecaster (it relearns) but keeps the history.
    const corrupt = { ...memory, forecaster: { ...memory.forecaster, fit: { gram: ['x'], moments: [1] } } };
    const partly = restoreMemory(spec, initialScalingState, corrupt);
    assert.equal(partly.state.forecaster, undefined);
    assert.equal(partly.restored, memory.buckets.length);
    assert.deepEqual(back.history?.items.at(-1), state.history?.items.at(state.history.length - 1));
  });

  it('ignores memory of another shape or bucket length', () => {
    for (const bad of [null, 'x', { version: 2 }, { ...memoryOf(spec, initialScalingState), bucket: 1 }]) {
      assert.equal(restoreMemory(spec, initialScalingState, bad).restored, 0);
    }
    const unordered = {
      version: 1,
      bucket: spec.bucket,
      buckets: [
        [5, 1, 1, 0],
        [4, 1, 1, 0],
      ],
    };
    assert.equal(restoreMemory(spec, initialScalingState, unordered).state, initialScalingState);
  });

  it('a restarted controller decides as if it had never stopped; a forgetful one does not', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-memory-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = new PolicyMemoryFile(join(dir, '.scaleplane-forecast-web.json'));
    const cpu = { value: 0 };
    const first = controller(file, cpu);
    await first.group.start(0);
    const stop = 180 * MINUTE;
    for (let now = 15_000; now <= stop; now += 15_000) {
      cpu.value = loadAt(now);
      first.group.evaluate(now);
    }
    await first.group.flushMemory();
    const saved = JSON.parse(await readFile(file.path, 'utf8'));
    assert.ok(saved.buckets.length > 0 && saved.forecaster, 'saved.buckets.length > 0 && saved.forecaster');

    // The same minute continues in three controllers: the original, a restarted one, a forgetful one.
    const restarted = controller(new PolicyMemoryFile(file.path), cpu);
    await restarted.group.start(stop);
    assert.equal(restarted.group.predictiveBuckets, saved.buckets.length);
    const forgetful = controller(undefined, cpu);
    await forgetful.group.start(stop);
    const next = stop + 15_000;
    cpu.value = loadAt(next);
    // All three run the same count before deciding, so only their memory differs.
    for (const c of [restarted, forgetful]) await c.provider.scaleTo(first.provider.desired());
    const decisions = [first, restarted, forgetful].map((c) => {
      c.group.evaluate(next);
      return c.group.lastDecision;
    });
    const asked = decisions.map((d) => d?.desired);
    // Each decision's stages say where two of them parted (a CI run failed here once; not reproduced).
    const why = decisions
      .map((d, i) => `${['first', 'restarted', 'forgetful'][i]}: ${JSON.stringify(d?.stages)} ${d?.message}`)
      .join('\n');
    assert.equal(asked[1], asked[0], `restarted, ${saved.buckets.length} buckets saved:\n${why}`);
    assert.ok(
      asked[2]! < asked[0]!,
      `forgetful ${asked[2]} vs ${asked[0]}: no learnt noise, no headroom\n${why}`,
    );
  });

  it('a restart after a step of the system clock: the file keeps its buckets on the wall clock', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-memory-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, '.scaleplane-forecast-web.json');
    // The first process saw the system clock stepped back 10 min: its decision clock (monotonic
    // since its start) runs 10 min ahead of the wall clock, which its successor starts on.
    const STEP = 10 * MINUTE;
    const cpu = { value: 0 };
    const first = controller(new PolicyMemoryFile(path, { wallOffset: () => STEP }), cpu);
    await first.group.start(0);
    const stop = 180 * MINUTE;
    for (let now = 15_000; now <= stop; now += 15_000) {
      cpu.value = loadAt(now);
      first.group.evaluate(now);
    }
    await first.group.flushMemory();
    const saved = JSON.parse(await readFile(path, 'utf8')) as { buckets: number[][] };
    assert.equal(saved.buckets.at(-1)?.[0], Math.floor(stop / MINUTE) - 10 - 1, 'kept on the wall clock');
    const restarted = controller(new PolicyMemoryFile(path, { wallOffset: () => 0 }), cpu);
    await restarted.group.start(stop - STEP);
    assert.equal(restarted.group.predictiveBuckets, saved.buckets.length, 'the history restored');
    // The same moment: `next` on the first one's clock, next − STEP on the restarted one's.
    const next = stop + 15_000;
    cpu.value = loadAt(next);
    await restarted.provider.scaleTo(first.provider.desired());
    first.group.evaluate(next);
    restarted.group.evaluate(next - STEP);
    assert.equal(
      restarted.group.lastDecision?.desired,
      first.group.lastDecision?.desired,
      'the same decision',
    );
    // Ten more minutes: the buckets the restarted one closes follow those it restored.
    for (let now = next + 15_000; now <= next + STEP; now += 15_000) {
      cpu.value = loadAt(now);
      restarted.group.evaluate(now - STEP);
    }
    await restarted.group.flushMemory();
    const indices = (JSON.parse(await readFile(path, 'utf8')) as { buckets: number[][] }).buckets.map(
      (b) => b[0]!,
    );
    const disorder = indices.findIndex((index, i) => i > 0 && index <= indices[i - 1]!);
    assert.equal(
      disorder,
      -1,
      `bucket indices out of order at ${disorder}: ${indices.slice(disorder - 2, disorder + 2)}`,
    );
    // The restarted one's clock is the wall clock: its last sample (at `next`) opened bucket 180.
    assert.equal(indices.at(-1), Math.floor(next / MINUTE) - 1, 'the last closed bucket, 179');
  });

  it('an unreadable file starts the group without history', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-memory-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'broken.json');
    await writeFile(path, '{not json');
    const { group } = controller(new PolicyMemoryFile(path), { value: 1 });
    await group.start(0);
    assert.equal(group.predictiveBuckets, 0);
  });
});

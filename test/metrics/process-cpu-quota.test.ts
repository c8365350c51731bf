// CPU of a local instance with a CPU size (a cgroup CFS quota) reads as a percent of that size, as
// HPA reads utilization against the pod's CPU request: 100 % = the instance uses its whole quota.
// Before, it was a percent of one core: a 0.5-CPU instance using its whole quota read ~50 %, so a
// group with a CPU target of 70 % could never scale out on CPU.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { ProcessCpuWindow } from '../../src/metrics/index.js';
import { CpuSampler, detectCgroups, type Instance, type LocalProvider } from '../../src/providers/index.js';
import { makeProvider, until } from '../providers/local-helpers.js';

const layout = detectCgroups();
const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;

/**
 * BUSY spins on one core: the app spawns a child that loops. Its quotas are small (0.1, 0.2 core)
 * so that the quota, not the machine, is what holds it: on this 2-core machine that other tests
 * load (load average 7-10) a spinner in a 0.5-core cgroup was never throttled (cpu.stat
 * nr_throttled 0) and got ~0.35 core, its fair share, which reads ~70 % of its size, correctly.
 */
const BUSY = { env: { BURN_CPU: '1' }, startTimeout: 20_000 };

/** readCpu measures the ready instances' CPU over `ms` the way the controller does, by instance id. */
async function readCpu(provider: LocalProvider, ms: number): Promise<Map<string, number>> {
  const sampler = new CpuSampler();
  const window = new ProcessCpuWindow({
    sampleCpu: (pgids, now) => sampler.sample(pgids, now),
    windowMs: 60_000,
  });
  const ready = (): Instance[] => provider.instances().filter((i) => i.state === 'ready');
  window.sample(ready(), performance.now()); // baseline
  await delay(ms); // the measurement interval: a rate needs one
  const endedAt = performance.now();
  window.sample(ready(), endedAt);
  const instances = ready();
  const values = window.read(instances, 70, endedAt).values;
  return new Map(instances.map((instance, i) => [instance.id, values[i]!]));
}

describe('CPU percent of an instance with a CPU size', { skip }, () => {
  it('a 0.1-CPU instance spinning reads ~100 % of its size, not ~10 % of a core', async (t) => {
    const provider = makeProvider(t, BUSY, { size: { cpu: 0.1 } });
    await provider.scaleTo(1);
    const [id, percent] = [...(await readCpu(provider, 2_000))][0]!;
    t.diagnostic(`${id} at cpu=0.1, spinning: ${percent.toFixed(1)} %`);
    // A band, not 100: /proc counts whole ticks (10 ms, 20 of them in 2 s at 0.1 core).
    assert.ok(percent >= 80, `a 0.1-CPU instance spinning read ${percent.toFixed(1)} % (of one core: ~10)`);
    assert.ok(percent <= 125, `read ${percent.toFixed(1)} %, above its quota`);
  });

  it('after a resize the replacement reads against its own size', async (t) => {
    const provider = makeProvider(t, BUSY, { size: { cpu: 0.2 } });
    await provider.scaleTo(1);
    await provider.resize({ cpu: 0.1 });
    await until(provider, () =>
      provider.instances().every((i) => i.state === 'ready' && i.size?.cpu === 0.1),
    );
    const [id, percent] = [...(await readCpu(provider, 2_000))][0]!;
    t.diagnostic(`${id} resized from cpu=0.2 to 0.1, spinning: ${percent.toFixed(1)} %`);
    assert.ok(percent >= 80, `a 0.1-CPU instance spinning read ${percent.toFixed(1)} % (of one core: ~10)`);
    assert.ok(percent <= 125, `read ${percent.toFixed(1)} %, above its quota`);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProcessCpuWindow } from '../../src/metrics/index.js';
import type { Instance } from '../../src/providers/types.js';

function instance(
  id: string,
  pid: number,
  state: Instance['state'] = 'ready',
  size?: Instance['size'],
): Instance {
  return { id, group: 'web', address: `127.0.0.1:${pid}`, state, pid, startedAt: 0, ...(size && { size }) };
}

describe('ProcessCpuWindow', () => {
  it('averages each instance over the window, weighted by interval length', () => {
    const percents = new Map<number, number>();
    const window = new ProcessCpuWindow({ sampleCpu: () => percents, windowMs: 10_000 });
    const a = instance('web-1', 101);
    const b = instance('web-2', 102);
    percents.set(101, 0).set(102, 0);
    window.sample([a, b], 0); // baseline only
    percents.set(101, 100).set(102, 20);
    window.sample([a, b], 1_000);
    percents.set(101, 40).set(102, 20);
    window.sample([a, b], 4_000); // a 3 s interval at 40 %
    const reading = window.read([a, b], 50, 4_000);
    assert.equal(reading.name, 'cpu');
    assert.equal(reading.target, 50);
    assert.deepEqual(reading.values, [(100 * 1 + 40 * 3) / 4, 20]);
  });

  it('forgets samples older than the window', () => {
    const percents = new Map([[101, 90]]);
    const window = new ProcessCpuWindow({ sampleCpu: () => percents, windowMs: 5_000 });
    const a = instance('web-1', 101);
    window.sample([a], 0);
    window.sample([a], 1_000);
    percents.set(101, 10);
    window.sample([a], 7_000);
    assert.deepEqual(window.read([a], 50, 7_000).values, [10]);
    assert.deepEqual(window.read([a], 50, 13_000).values, []);
  });

  it('leaves out instances that are not ready or have only a baseline', () => {
    const percents = new Map([
      [101, 50],
      [102, 50],
    ]);
    const window = new ProcessCpuWindow({ sampleCpu: () => percents, windowMs: 10_000 });
    const ready = instance('web-1', 101);
    const starting = instance('web-2', 102, 'starting');
    window.sample([ready, starting], 0);
    window.sample([ready, starting], 1_000);
    assert.deepEqual(window.read([ready, starting], 50, 1_000).values, [50]);
    const fresh = instance('web-3', 103);
    window.sample([ready, fresh], 2_000);
    assert.equal(window.read([ready, fresh], 50, 2_000).values.length, 1);
  });

  it('reads an instance with a CPU size as a percent of that size, each its own during a resize', () => {
    // Percent of one core, as the sampler measures it: both use half a core.
    const percents = new Map([
      [101, 50],
      [102, 50],
      [103, 50],
    ]);
    const window = new ProcessCpuWindow({ sampleCpu: () => percents, windowMs: 10_000 });
    const old = instance('web-1', 101, 'ready', { cpu: 1 });
    const resized = instance('web-2', 102, 'ready', { cpu: 0.5, memory: 256 * 1024 * 1024 });
    const unsized = instance('web-3', 103);
    window.sample([old, resized, unsized], 0);
    window.sample([old, resized, unsized], 1_000);
    assert.deepEqual(
      window.read([old, resized, unsized], 70, 1_000).values,
      [50, 100, 50],
      'half a core is 50 % of 1 CPU, 100 % of 0.5 CPU, and 50 % (of one core) without a size',
    );
  });
});

import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeReplayHtml } from '../../src/dashboard/index.js';
import type { SimResult } from '../../src/sim/index.js';
import { toReplaySeries } from '../../src/sim/index.js';

function result(policy: string, ready: number[]): SimResult {
  return {
    policy,
    requests: 0,
    violation_pct: 0,
    instance_hours: 0,
    decisions: 0,
    scalings: 0,
    ready: Uint16Array.from(ready),
  };
}

describe('toReplaySeries', () => {
  it('buckets per minute: mean demand and ready, CPU they imply, share of overloaded seconds', () => {
    // Two minutes: the first at 100 req/s on 2 instances, the second at 300 req/s on 2 (overloaded).
    const rate = Float64Array.from([...Array(60).fill(100), ...Array(60).fill(300)]);
    const series = toReplaySeries(
      { rate, scale: 1, from: 10, to: 130 },
      [result('hpa', Array(120).fill(2))],
      {
        capacity: 100,
        minInstances: 1,
        maxInstances: 4,
      },
    );
    const group = series.groups[0]!;
    assert.equal(group.name, 'hpa');
    assert.deepEqual([group.minInstances, group.maxInstances], [1, 4]);
    assert.deepEqual(
      group.samples.map((s) => [s.t, s.rps, s.ready, s.cpu, s.errorRate]),
      [
        [0, 100, 2, 50, 0],
        [60_000, 300, 2, 100, 1],
      ],
    );
  });

  it('never draws more than 2000 points, and the page carries its data offline', async () => {
    const n = 7 * 86_400;
    const series = toReplaySeries(
      { rate: new Float64Array(n).fill(50), scale: 1, from: 0, to: n },
      [result('default', Array(n).fill(1))],
      {
        capacity: 100,
      },
    );
    assert.ok(series.groups[0]!.samples.length <= 2000, 'series.groups[0]!.samples.length <= 2000');
    const file = join(await mkdtemp(join(tmpdir(), 'replay-')), 'replay.html');
    await writeReplayHtml(file, series);
    const html = await readFile(file, 'utf8');
    assert.match(html, /<script type="application\/json" id="replay-data">/);
    assert.doesNotMatch(html, /src="https?:/);
  });
});

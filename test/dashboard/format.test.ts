// The dashboard's time-axis labels (src/dashboard/client/format.ts, bundled for the browser). Node's
// Intl cuts ja-JP and fi-FI times as Debian's Chromium does (`9:05:03`, `9.05.03`); its en-US with
// hour12: false reads 24:05 after midnight where Chromium reads 00:05, so the midnight case guards
// the hour cycle without claiming a bug Chromium had.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { axisTimes, clock, markLabel, servingShortfall } from '../../src/dashboard/client/format.js';

/** at is a local time on 1 January 2026 in epoch seconds, as uPlot hands ticks over. */
const at = (h: number, m: number, s = 0) => new Date(2026, 0, 1, h, m, s).getTime() / 1000;

describe('axisTimes', () => {
  it('minute ticks read HH:MM in every locale, never a cut-off HH:MM:SS', () => {
    // Before, clock(t).slice(0, 5), in Chromium too: `9:05:` (ja-JP), `9.05.` (fi-FI), `10시 5` (ko-KR).
    const ticks = [at(9, 5), at(10, 5)];
    assert.deepEqual(axisTimes(ticks, 'en-US'), ['09:05', '10:05']);
    assert.deepEqual(axisTimes(ticks, 'ja-JP'), ['09:05', '10:05']);
    assert.deepEqual(axisTimes(ticks, 'fi-FI'), ['09.05', '10.05']);
    assert.deepEqual(axisTimes(ticks, 'ko-KR'), ['09:05', '10:05']);
  });

  it('ticks under a minute apart carry the seconds; midnight is 00, not 24', () => {
    const ticks = [at(0, 5, 3), at(0, 5, 33)];
    assert.deepEqual(axisTimes(ticks, 'en-US'), ['00:05:03', '00:05:33']);
    assert.deepEqual(axisTimes(ticks, 'ja-JP'), ['00:05:03', '00:05:33']);
    assert.deepEqual(axisTimes(ticks, 'fi-FI'), ['00.05.03', '00.05.33']);
  });
});

describe('servingShortfall', () => {
  const at = (state: string, health: string) => ({ state, health });
  it('counts ready instances not unhealthy, as the API counts serving', () => {
    assert.deepEqual(servingShortfall({ instances: [at('ready', 'unhealthy'), at('ready', 'healthy')] }), {
      serving: 1,
      unhealthy: 1,
    });
    assert.deepEqual(servingShortfall({ instances: [at('ready', 'unhealthy')] }), {
      serving: 0,
      unhealthy: 1,
    });
  });
  it('is undefined when every ready instance serves (health unknown counts as serving)', () => {
    assert.equal(
      servingShortfall({ instances: [at('ready', 'healthy'), at('ready', 'unknown')] }),
      undefined,
    );
    // A starting instance is not ready, so its failing checks take nothing out of rotation.
    assert.equal(
      servingShortfall({ instances: [at('starting', 'unhealthy'), at('ready', 'healthy')] }),
      undefined,
    );
    assert.equal(servingShortfall({ instances: [] }), undefined);
  });
});

describe('markLabel', () => {
  it("names a mark's time, source, count change, reasons and message", () => {
    const t = new Date(2026, 0, 1, 9, 5, 3).getTime();
    assert.equal(
      markLabel({
        t,
        source: 'api',
        before: 1,
        after: 2,
        reasons: ['ManualScale'],
        message: 'scaled by hand',
      }),
      `Scaling decision at ${clock(t)} (api): 1 → 2 instances. Reasons: ManualScale. scaled by hand`,
    );
    assert.equal(
      markLabel({ t, source: 'policy', before: 3, after: 3, reasons: [], message: '', count: 4 }),
      `Scaling decision at ${clock(t)} (policy): 3 instances, unchanged. Made 4 times.`,
    );
  });
});

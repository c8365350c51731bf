// The data path's batched metric children (src/metrics/batched.ts) must read exactly as
// prom-client's own children would: same series, same counts, buckets, sums and gauge values, at
// any read in between.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchedCounter, batchedGauge, batchedHistogram, createMetrics } from '../../src/metrics/index.js';

// Values on, between, below and above the bounds (0.001 … 10, then +Inf).
const DURATIONS = [0, 0.0005, 0.001, 0.0012, 0.0025, 0.05, 0.25, 1, 9.99, 10, 10.5, 120];

// A sum is added up in another order (a batch's partial sum, then the series'), so it may differ
// from prom-client's in its last bits: compared to 12 significant digits, all else exactly.
function rounded<T>(value: T): T {
  if (typeof value === 'number')
    return (Number.isInteger(value) ? value : Number(value.toPrecision(12))) as T;
  if (typeof value === 'string')
    return value.replace(
      /(_sum\{[^}]*\}) (\S+)/g,
      (_, series: string, n: string) => `${series} ${rounded(Number(n))}`,
    ) as T;
  if (Array.isArray(value)) return value.map(rounded) as T;
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rounded(v)])) as T;
  return value;
}

function drive(
  children: {
    inFlight: { inc(): void; dec(): void };
    ok: { inc(): void };
    failed: { inc(): void };
    duration: { observe(v: number): void };
  },
  step: number,
): void {
  // An inc and its dec between two reads still makes the series (at 0).
  children.inFlight.inc();
  if (step % 3 !== 2) children.inFlight.dec();
  children.ok.inc();
  if (step % 4 === 0) children.failed.inc();
  const duration = DURATIONS[step % DURATIONS.length]!;
  // Every other round exactly on a bound (counted in that bucket: le), else a little off it.
  children.duration.observe(step % (2 * DURATIONS.length) < DURATIONS.length ? duration : duration * 1.001);
}

test('batched children read as prom-client children do, at every read', async () => {
  const plain = createMetrics({ defaultMetrics: false });
  const batched = createMetrics({ defaultMetrics: false });
  const plainChildren = {
    inFlight: plain.inFlight.labels({ group: 'web' }),
    ok: plain.requests.labels({ group: 'web', code: '2xx' }),
    failed: plain.requests.labels({ group: 'web', code: '5xx' }),
    duration: plain.requestDuration.labels({ group: 'web' }),
  };
  const batchedChildren = {
    inFlight: batchedGauge(batched.inFlight, { group: 'web' }),
    ok: batchedCounter(batched.requests, { group: 'web', code: '2xx' }),
    failed: batchedCounter(batched.requests, { group: 'web', code: '5xx' }),
    duration: batchedHistogram(batched.requestDuration, { group: 'web' }),
  };
  assert.equal(
    rounded(await batched.registry.metrics()),
    rounded(await plain.registry.metrics()),
    'before any request: the same (no series yet)',
  );
  let step = 0;
  for (const burst of [1, 2, 7, 40, 3]) {
    for (let i = 0; i < burst; i++, step++) {
      drive(plainChildren, step);
      drive(batchedChildren, step);
    }
    assert.equal(
      rounded(await batched.registry.metrics()),
      rounded(await plain.registry.metrics()),
      `after ${step} requests the exposition differs`,
    );
    // The way the latency source reads the histogram, and the way workers' snapshots are taken.
    assert.deepEqual(
      rounded(await batched.registry.getSingleMetric('scaleplane_request_duration_seconds')!.get()),
      rounded(await plain.registry.getSingleMetric('scaleplane_request_duration_seconds')!.get()),
      `after ${step} requests the histogram read by name differs`,
    );
    assert.deepEqual(
      rounded(await batched.registry.getMetricsAsJSON()),
      rounded(await plain.registry.getMetricsAsJSON()),
      `after ${step} requests the JSON snapshot differs`,
    );
  }
});

test('a batched child for the same labels is the same child, and a group added again counts on', async () => {
  const metrics = createMetrics({ defaultMetrics: false });
  const first = batchedCounter(metrics.requests, { group: 'web', code: '2xx' });
  first.inc();
  const again = batchedCounter(metrics.requests, { code: '2xx', group: 'web' });
  assert.equal(again, first, 'one child per label set, whatever the key order');
  again.inc();
  const text = await metrics.registry.metrics();
  assert.match(text, /scaleplane_requests_total\{group="web",code="2xx"\} 2\n/, `read:\n${text}`);
});

test('a batched histogram refuses a value that is not a number, as prom-client does', () => {
  const metrics = createMetrics({ defaultMetrics: false });
  const duration = batchedHistogram(metrics.requestDuration, { group: 'web' });
  assert.throws(() => duration.observe(Number.NaN), TypeError, 'NaN must be refused');
});

test('a batched gauge set reads as a plain one: the last value set, with moves after it', async () => {
  const plain = createMetrics({ defaultMetrics: false });
  const batched = createMetrics({ defaultMetrics: false });
  const p = plain.inFlight.labels({ group: 'web' });
  const b = batchedGauge(batched.inFlight, { group: 'web' });
  const steps: [string, (g: { inc(): void; dec(): void; set(v: number): void }) => void][] = [
    ['set 5', (g) => g.set(5)],
    [
      'inc, set 3, inc',
      (g) => {
        g.inc();
        g.set(3);
        g.inc();
      },
    ],
    ['dec', (g) => g.dec()],
    ['set 0', (g) => g.set(0)],
  ];
  for (const [what, step] of steps) {
    step(p);
    step(b);
    assert.equal(await batched.registry.metrics(), await plain.registry.metrics(), `after ${what}`);
  }
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Backend, BalancerError, createPicker, type Picker } from '../../src/balancer/index.js';
import { mulberry32 } from './helpers.js';

interface FakeBackend extends Backend {
  inFlight: number;
}

function backends(spec: Record<string, { weight?: number; inFlight?: number }>): FakeBackend[] {
  return Object.entries(spec).map(([id, { weight = 1, inFlight = 0 }]) => ({
    id,
    address: `10.0.0.1:${id.charCodeAt(0)}`,
    weight,
    inFlight,
    healthy: true,
    draining: false,
  }));
}

function picks(picker: Picker, pool: readonly Backend[], n: number, exclude?: string[]): string[] {
  const excluded = exclude && new Set(pool.filter((b) => exclude.includes(b.id)));
  return Array.from({ length: n }, () => picker.pick(pool, excluded && { exclude: excluded })?.id ?? '-');
}

test('round-robin: smooth weighted sequences as NGINX', () => {
  const cases: {
    name: string;
    pool: Record<string, { weight?: number }>;
    want: string;
    exclude?: string[];
  }[] = [
    { name: 'equal weights', pool: { a: {}, b: {}, c: {} }, want: 'a,b,c,a,b,c' },
    {
      name: '5/1/1 interleaves',
      pool: { a: { weight: 5 }, b: {}, c: {} },
      want: 'a,a,b,a,c,a,a,a,a,b,a,c,a,a',
    },
    { name: '2/1', pool: { a: { weight: 2 }, b: {} }, want: 'a,b,a,a,b,a' },
    { name: '1/3', pool: { a: {}, b: { weight: 3 } }, want: 'b,a,b,b,b,a,b,b' },
    { name: 'single', pool: { a: { weight: 4 } }, want: 'a,a,a' },
    { name: 'empty', pool: {}, want: '-,-' },
    { name: 'excluded skipped', pool: { a: {}, b: {}, c: {} }, want: 'b,c,b,c', exclude: ['a'] },
    { name: 'all excluded', pool: { a: {}, b: {} }, want: '-,-', exclude: ['a', 'b'] },
  ];
  for (const { name, pool, want, exclude } of cases) {
    const list = backends(pool);
    const got = picks(createPicker('round-robin'), list, want.split(',').length, exclude);
    assert.equal(got.join(','), want, name);
  }
});

test('round-robin: a backend joining keeps the others in their rhythm', () => {
  const picker = createPicker('round-robin');
  const [a, b, c] = backends({ a: {}, b: {}, c: {} });
  assert.deepEqual(picks(picker, [a!, b!], 3), ['a', 'b', 'a']);
  assert.deepEqual(picks(picker, [a!, b!, c!], 6), ['b', 'c', 'a', 'b', 'c', 'a']);
});

test('least-connections: fewest in flight, ties taken in turn', () => {
  const cases: {
    name: string;
    pool: Record<string, { weight?: number; inFlight?: number }>;
    want: string;
    exclude?: string[];
  }[] = [
    { name: 'all idle rotate', pool: { a: {}, b: {}, c: {} }, want: 'a,b,c,a,b,c' },
    { name: 'busy one skipped', pool: { a: { inFlight: 1 }, b: {}, c: {} }, want: 'b,c,b,c' },
    {
      name: 'fewest wins',
      pool: { a: { inFlight: 3 }, b: { inFlight: 1 }, c: { inFlight: 2 } },
      want: 'b,b,b',
    },
    { name: 'weight scales load', pool: { a: { weight: 3, inFlight: 2 }, b: { inFlight: 1 } }, want: 'a,a' },
    {
      name: 'weighted tie: smooth weighted round-robin, as NGINX',
      pool: { a: { weight: 2, inFlight: 2 }, b: { inFlight: 1 } },
      want: 'a,b,a,a,b,a',
    },
    { name: 'idle, weights 2/1', pool: { a: { weight: 2 }, b: {} }, want: 'a,b,a,a,b,a' },
    { name: 'excluded skipped', pool: { a: {}, b: { inFlight: 5 } }, want: 'b,b', exclude: ['a'] },
    { name: 'empty', pool: {}, want: '-' },
  ];
  for (const { name, pool, want, exclude } of cases) {
    const got = picks(createPicker('least-connections'), backends(pool), want.split(',').length, exclude);
    assert.equal(got.join(','), want, name);
  }
});

test('least-connections: spreads load as requests start', () => {
  const picker = createPicker('least-connections');
  const pool = backends({ a: {}, b: {}, c: {} });
  const got: string[] = [];
  for (let i = 0; i < 6; i++) {
    const backend = picker.pick(pool)!;
    backend.inFlight++;
    got.push(backend.id);
  }
  assert.deepEqual(got.slice(0, 3), ['a', 'b', 'c'], 'the first three go to three different backends');
  assert.deepEqual(got.sort(), ['a', 'a', 'b', 'b', 'c', 'c'], 'six requests: two on each');
  pool[1]!.inFlight = 0;
  assert.equal(picker.pick(pool)?.id, 'b');
});

test('createPicker: names and unknown algorithm', () => {
  assert.equal(createPicker('round-robin').name, 'round-robin');
  assert.equal(createPicker('least-connections').name, 'least-connections');
  assert.throws(
    () => createPicker('random' as never),
    (err: unknown) => err instanceof BalancerError && err.code === 'BALANCER_UNKNOWN_ALGORITHM',
  );
});

test('ewma: unequal weights are shares (weight / load, as Envoy), equal ones keep two random choices', () => {
  // Before, two random backends were compared by load / weight: with loads alike (no queue) the
  // higher weight always won, so a weight-2 backend beside a weight-1 one took every request.
  const cases: {
    name: string;
    pool: Record<string, { weight?: number; inFlight?: number; latency: number }>;
    /** Expected share of picks per backend, within ±0.03. */
    want: Record<string, number>;
  }[] = [
    {
      name: '2/1, same latency, idle',
      pool: { a: { weight: 2, latency: 10 }, b: { latency: 10 } },
      want: { a: 2 / 3, b: 1 / 3 },
    },
    {
      name: '1/1/2, same latency, idle',
      pool: { a: { latency: 10 }, b: { latency: 10 }, c: { weight: 2, latency: 10 } },
      want: { a: 0.25, b: 0.25, c: 0.5 },
    },
    {
      name: 'slow start at 10% of its weight',
      pool: { old: { latency: 10 }, new: { weight: 0.1, latency: 10 } },
      want: { old: 1 / 1.1, new: 0.1 / 1.1 },
    },
    {
      name: 'a 10× slower weight-2 backend still gets less than a fast weight-1 one',
      pool: { slow: { weight: 2, latency: 100 }, fast: { latency: 10 } },
      want: { slow: 0.02 / 0.12, fast: 0.1 / 0.12 },
    },
    {
      name: 'requests in flight count against the weight',
      pool: { a: { weight: 2, inFlight: 3, latency: 10 }, b: { latency: 10 } },
      want: { a: 0.5 / 1.5, b: 1 / 1.5 },
    },
    {
      name: 'equal weights: the lower load of the two always wins',
      pool: { slow: { latency: 100 }, fast: { latency: 10 } },
      want: { slow: 0, fast: 1 },
    },
  ];
  for (const c of cases) {
    const picker = createPicker('ewma', { random: mulberry32(5), now: () => 0 });
    const pool = backends(c.pool);
    for (const backend of pool) picker.observe!(backend, c.pool[backend.id]!.latency);
    const n = 3000;
    const counts: Record<string, number> = {};
    for (const id of picks(picker, pool, n)) counts[id] = (counts[id] ?? 0) + 1;
    for (const [id, share] of Object.entries(c.want)) {
      const got = (counts[id] ?? 0) / n;
      assert.ok(
        Math.abs(got - share) <= 0.03,
        `${c.name}: ${id} got ${(got * 100).toFixed(1)}% of the picks, expected ${(share * 100).toFixed(1)}% (${JSON.stringify(counts)})`,
      );
    }
  }
});

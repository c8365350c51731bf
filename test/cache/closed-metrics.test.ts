// A closed cache leaves no gauge behind. close() sets scaleplane_cache_redis_up to 0 (the tier is
// gone), and the series stayed on the registry for as long as the process lived: an alert on
// `scaleplane_cache_redis_up == 0` fired for a cache that was closed on purpose and never resolved.
// Its counters stay (totals of what it did); another open cache of the same name keeps its gauges.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { createCache } from '../../src/cache/index.js';
import { SHARED_REDIS_URL, uniquePrefix } from './helpers.js';

/** series lists the `cache` label values of one metric's series on the /metrics text. */
async function series(registry: Registry, name: string): Promise<string[]> {
  const text = await registry.metrics();
  return [...text.matchAll(new RegExp(`^${name}\\{cache="([^"]+)"[^}]*\\} `, 'gm'))].map((m) => m[1]!);
}

test('a closed cache removes its redis_up and memory gauges, keeps its counters', async (t) => {
  const registry = new Registry();
  const open = (name: string) =>
    createCache({ name, registry, redis: { url: SHARED_REDIS_URL }, prefix: uniquePrefix('closed-metrics') });
  const sessions = open('sessions');
  const twin = open('pages');
  const pages = open('pages');
  t.after(() => Promise.all([sessions, twin, pages].map((cache) => cache.close())));
  await Promise.all([sessions, twin, pages].map((cache) => once(cache, 'redis:up')));
  await sessions.getOrSet('k', async () => 'v');
  assert.deepEqual(await series(registry, 'scaleplane_cache_redis_up'), ['sessions', 'pages']);

  await sessions.close();
  await twin.close();
  assert.deepEqual(
    await series(registry, 'scaleplane_cache_redis_up'),
    ['pages'],
    'the closed cache "sessions" must not read redis_up 0 for ever; "pages" is still open once',
  );
  assert.deepEqual(await series(registry, 'scaleplane_cache_memory_entries'), ['pages']);
  assert.deepEqual(await series(registry, 'scaleplane_cache_memory_bytes'), ['pages']);
  assert.ok(
    (await series(registry, 'scaleplane_cache_misses_total')).includes('sessions'),
    'the closed cache keeps its counters',
  );
  await pages.close();
  assert.deepEqual(await series(registry, 'scaleplane_cache_redis_up'), []);
});

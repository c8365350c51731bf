// Acceptance 4 (issue #6): under steady load on one URL, the backend sees one request per max-age
// window. The number of windows is derived from the measured duration of the load, not assumed.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { startLoad } from '../../helpers/load.js';
import { cacheCount, startCached } from './helpers.js';

const MAX_AGE_S = 1;
const LOAD_MS = 4500;
const CONCURRENCY = 16;

test('under load on one URL with max-age=1 the backend sees one request per max-age window', async (t) => {
  const c = await startCached(t, (_req, res) => {
    // No Date header: an HTTP date has whole seconds, so with one the response would already be
    // up to 1 s old on arrival (RFC 9111 apparent age) and a window would end at the next second
    // boundary instead of 1 s after the fill. Without it, age counts from the fill's arrival.
    res.sendDate = false;
    res.writeHead(200, { 'Cache-Control': `max-age=${MAX_AGE_S}`, 'Content-Type': 'text/plain' });
    res.end('hot');
  });
  const started = performance.now();
  const load = startLoad({
    url: `http://127.0.0.1:${c.port}/hot`,
    concurrency: CONCURRENCY,
    maxDurationMs: LOAD_MS,
  });
  const result = await load.done;
  const elapsedMs = performance.now() - started;
  const windows = elapsedMs / (MAX_AGE_S * 1000);
  const backend = c.backend.requests;
  const served = result.ok + result.non2xx + result.errors;
  const hits = await cacheCount(c.metrics, 'HIT');
  const misses = await cacheCount(c.metrics, 'MISS');
  console.log(
    `acceptance-4: ${served} requests over ${(elapsedMs / 1000).toFixed(2)} s (${CONCURRENCY} clients, max-age=${MAX_AGE_S}) → ` +
      `${windows.toFixed(2)} windows, backend saw ${backend} requests; X-Cache HIT ${hits}, MISS ${misses}; ` +
      `${result.ok} ok, ${result.non2xx} non-2xx, ${result.errors} errors`,
  );
  assert.equal(result.errors, 0);
  assert.equal(result.non2xx, 0);
  assert.ok(served > 10 * backend, 'load was steady enough for the cache to matter');
  assert.ok(backend <= windows + 1, `backend requests ${backend} > windows ${windows.toFixed(2)} + 1`);
  assert.ok(backend >= windows - 1, `backend requests ${backend} < windows ${windows.toFixed(2)} - 1`);
  assert.equal(misses, backend, 'every backend request was a miss some client waited on');
});

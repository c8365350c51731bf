// Two copies of the queue module on one registry (two versions of scaleplane in node_modules, both
// given prom-client's global `register`) share its series. Each copy keeps its own map of the
// registries it has seen, so before, the second copy's first queue threw at construction:
// "A metric with the name scaleplane_queue_jobs_published_total has already been registered".
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { queueMetrics } from '../../src/queue/metrics.js';
import { COMPILED } from '../helpers/runnable.js';

test('a second copy of the queue module takes the series already on the registry', async () => {
  // A query string makes the loader evaluate the file again: a module instance of its own.
  const copy = (await import(
    `${new URL(`../../src/queue/metrics.${COMPILED ? 'js' : 'ts'}`, import.meta.url).href}?copy=2`
  )) as {
    queueMetrics: typeof queueMetrics;
  };
  assert.notEqual(copy.queueMetrics, queueMetrics, 'the copy is a module instance of its own');
  const registry = new Registry();
  const first = queueMetrics(registry);
  const second = copy.queueMetrics(registry);
  const labels = { queue: 'emails', backend: 'redis' };
  first.published.inc(labels);
  second.published.inc(labels);
  second.handlerDuration.observe(labels, 0.2);
  second.inFlight.inc(labels);
  const text = await registry.metrics();
  assert.match(text, /^scaleplane_queue_jobs_published_total\{queue="emails",backend="redis"\} 2$/m);
  assert.match(
    text,
    /^scaleplane_queue_handler_duration_seconds_count\{queue="emails",backend="redis"\} 1$/m,
  );
  assert.match(text, /^scaleplane_queue_jobs_in_flight\{queue="emails",backend="redis"\} 1$/m);
  assert.equal(
    text.match(/^# TYPE scaleplane_queue_jobs_published_total /gm)?.length,
    1,
    'one series family',
  );
});

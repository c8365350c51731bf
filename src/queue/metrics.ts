import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** QueueMetrics is every Prometheus series the queue module exports, labelled by queue and backend. */
export interface QueueMetrics {
  readonly published: Counter<'queue' | 'backend'>;
  readonly completed: Counter<'queue' | 'backend'>;
  /** Handler failures, retried or not. */
  readonly failed: Counter<'queue' | 'backend'>;
  readonly retried: Counter<'queue' | 'backend'>;
  readonly deadLettered: Counter<'queue' | 'backend'>;
  readonly inFlight: Gauge<'queue' | 'backend'>;
  readonly handlerDuration: Histogram<'queue' | 'backend'>;
}

const cache = new WeakMap<Registry, QueueMetrics>();

/**
 * queueMetrics returns the queue series on `registry`, creating them on first use; several queues
 * may share one registry (prom-client refuses the same name twice). Series already on the registry
 * are taken as they are, as the cache and replica modules do: a second copy of this module (two
 * versions of scaleplane in node_modules, both given prom-client's global `register`) has its own
 * `cache` map, and its first queue threw "A metric with the name
 * scaleplane_queue_jobs_published_total has already been registered".
 */
export function queueMetrics(registry: Registry): QueueMetrics {
  const existing = cache.get(registry);
  if (existing) return existing;
  const registers = [registry];
  const labelNames = ['queue', 'backend'] as const;
  const reuse = <T>(name: string, create: () => T): T =>
    (registry.getSingleMetric(name) as T | undefined) ?? create();
  const counter = (name: string, help: string): Counter<'queue' | 'backend'> =>
    reuse(
      `scaleplane_queue_${name}_total`,
      () => new Counter({ name: `scaleplane_queue_${name}_total`, help, labelNames, registers }),
    );
  const metrics: QueueMetrics = {
    published: counter('jobs_published', 'Jobs the broker confirmed as stored.'),
    completed: counter('jobs_completed', 'Jobs whose handler succeeded and were acked.'),
    failed: counter('jobs_failed', 'Handler failures, retried or dead-lettered.'),
    retried: counter('jobs_retried', 'Failed jobs scheduled for another attempt.'),
    deadLettered: counter(
      'jobs_dead_lettered',
      'Jobs moved to the dead-letter queue: failed past their last attempt, or stalled past maxStalls, or malformed (the last two unrun).',
    ),
    inFlight: reuse(
      'scaleplane_queue_jobs_in_flight',
      () =>
        new Gauge({
          name: 'scaleplane_queue_jobs_in_flight',
          help: 'Jobs being handled right now.',
          labelNames,
          registers,
        }),
    ),
    handlerDuration: reuse(
      'scaleplane_queue_handler_duration_seconds',
      () =>
        new Histogram({
          name: 'scaleplane_queue_handler_duration_seconds',
          help: 'Time spent in job handlers, successful or not.',
          labelNames,
          buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
          registers,
        }),
    ),
  };
  cache.set(registry, metrics);
  return metrics;
}

import { Counter, collectDefaultMetrics, Gauge, Histogram, type Registry } from 'prom-client';
import { ScaleplaneRegistry } from './cluster.js';
import { DEFAULT_REQUEST_DURATION_BUCKETS } from './latency-buckets.js';

/**
 * ScaleplaneMetrics is every Prometheus series Scaleplane itself exports, on one registry.
 * Components receive it injected so tests can read the exact values they caused.
 */
export interface ScaleplaneMetrics {
  readonly registry: Registry;
  /** Requests proxied by the balancer, by group, method and status class (`2xx`…, or `error`). */
  readonly requests: Counter<'group' | 'code'>;
  /** End-to-end latency of proxied requests. */
  readonly requestDuration: Histogram<'group'>;
  /** requestDuration's bucket bounds, seconds: data-path workers must count in the same buckets. */
  readonly requestDurationBuckets: readonly number[];
  /** Requests in flight through the balancer per group. */
  readonly inFlight: Gauge<'group'>;
  /** Failures talking to a backend, by kind (`connect`, `reset`, `timeout`, `no_backend`). */
  readonly upstreamErrors: Counter<'group' | 'kind'>;
  /** Retries the balancer made to another backend. */
  readonly retries: Counter<'group'>;
  /**
   * Retries the balancer refused, by `reason`: `budget` (the retry budget was spent, Envoy's
   * `upstream_rq_retry_overflow`) or `limit` (the request used its retries, Envoy's
   * `upstream_rq_retry_limit_exceeded`).
   */
  readonly retryOverflows: Counter<'group' | 'reason'>;
  /** Health-check transitions of instances. */
  readonly healthTransitions: Counter<'group' | 'to'>;
  /** Desired instances per group. */
  readonly desiredInstances: Gauge<'group'>;
  /** Ready instances per group. */
  readonly readyInstances: Gauge<'group'>;
  /** Scaling decisions that changed the desired count, by direction and source (`policy`, `api`). */
  readonly scalingDecisions: Counter<'group' | 'direction' | 'source'>;
  /** Average CPU percent per instance (100 = its CPU size, or one core without one) as last measured. */
  readonly groupCpu: Gauge<'group'>;
  /** Average memory per instance in percent of its limit, for groups scaled on a memory `target`. */
  readonly groupMemoryPercent: Gauge<'group'>;
  /** Average memory per instance in bytes, for groups scaled on a memory `average_value`. */
  readonly groupMemoryBytes: Gauge<'group'>;
  /** Instance crashes seen by providers. */
  readonly instanceCrashes: Counter<'group'>;
  /** Provider operations (engine API calls, watches, local starts) that failed, foreground or background. */
  readonly providerErrors: Counter<'group'>;
}

/** CreateMetricsOptions shapes the registry createMetrics builds. */
export interface CreateMetricsOptions {
  /** Adds the process defaults as `scaleplane_process_*`. @defaultValue true */
  defaultMetrics?: boolean;
  /**
   * Bounds of `scaleplane_request_duration_seconds`, seconds (see requestDurationBuckets, which
   * adds those around the groups' latency targets). @defaultValue DEFAULT_REQUEST_DURATION_BUCKETS
   */
  requestDurationBuckets?: readonly number[];
}

/** createMetrics builds a fresh registry with Scaleplane's series and the process defaults. */
export function createMetrics(options: CreateMetricsOptions = {}): ScaleplaneMetrics {
  // Data-path workers (balancer.workers) add their series to it: see ScaleplaneRegistry.
  const registry = new ScaleplaneRegistry();
  if (options.defaultMetrics ?? true)
    collectDefaultMetrics({ register: registry, prefix: 'scaleplane_process_' });
  const registers = [registry];
  const requestDurationBuckets = [...(options.requestDurationBuckets ?? DEFAULT_REQUEST_DURATION_BUCKETS)];
  return {
    registry,
    requestDurationBuckets,
    requests: new Counter({
      name: 'scaleplane_requests_total',
      help: 'Requests proxied by the balancer, by group and status class.',
      labelNames: ['group', 'code'],
      registers,
    }),
    requestDuration: new Histogram({
      name: 'scaleplane_request_duration_seconds',
      help: 'End-to-end latency of requests through the balancer.',
      labelNames: ['group'],
      buckets: requestDurationBuckets,
      registers,
    }),
    inFlight: new Gauge({
      name: 'scaleplane_inflight_requests',
      help: 'Requests in flight through the balancer.',
      labelNames: ['group'],
      registers,
    }),
    upstreamErrors: new Counter({
      name: 'scaleplane_upstream_errors_total',
      help: 'Failures talking to a backend, by kind.',
      labelNames: ['group', 'kind'],
      registers,
    }),
    retries: new Counter({
      name: 'scaleplane_retries_total',
      help: 'Requests the balancer retried on another backend.',
      labelNames: ['group'],
      registers,
    }),
    retryOverflows: new Counter({
      name: 'scaleplane_retry_overflows_total',
      help: 'Retries the balancer refused, by reason: the retry budget was spent (budget) or the retry limit reached (limit).',
      labelNames: ['group', 'reason'],
      registers,
    }),
    healthTransitions: new Counter({
      name: 'scaleplane_health_transitions_total',
      help: 'Instances going healthy or unhealthy by active health checks.',
      labelNames: ['group', 'to'],
      registers,
    }),
    desiredInstances: new Gauge({
      name: 'scaleplane_group_desired_instances',
      help: 'Instances the group is converging to.',
      labelNames: ['group'],
      registers,
    }),
    readyInstances: new Gauge({
      name: 'scaleplane_group_ready_instances',
      help: 'Instances ready to serve.',
      labelNames: ['group'],
      registers,
    }),
    scalingDecisions: new Counter({
      name: 'scaleplane_scaling_decisions_total',
      help: 'Decisions that changed the desired count.',
      labelNames: ['group', 'direction', 'source'],
      registers,
    }),
    groupCpu: new Gauge({
      name: 'scaleplane_group_cpu_percent',
      help: 'Average CPU per ready instance, percent of its CPU size (resources.cpu), or of one core without one.',
      labelNames: ['group'],
      registers,
    }),
    groupMemoryPercent: new Gauge({
      name: 'scaleplane_group_memory_percent',
      help: 'Average memory per ready instance (cgroup working set, else process-group RSS), percent of its memory limit.',
      labelNames: ['group'],
      registers,
    }),
    groupMemoryBytes: new Gauge({
      name: 'scaleplane_group_memory_bytes',
      help: 'Average memory per ready instance (cgroup working set, else process-group RSS), bytes.',
      labelNames: ['group'],
      registers,
    }),
    instanceCrashes: new Counter({
      name: 'scaleplane_instance_crashes_total',
      help: 'Instances that exited without being asked to.',
      labelNames: ['group'],
      registers,
    }),
    providerErrors: new Counter({
      name: 'scaleplane_provider_errors_total',
      help: 'Provider operations that failed: engine API calls, watches, local instance starts.',
      labelNames: ['group'],
      registers,
    }),
  };
}

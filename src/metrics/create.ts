/** createMetricSource builds the source of one configured metric other than process CPU and memory. */
import type { Registry } from 'prom-client';
import type { GroupConfig, MetricConfig } from '../config/index.js';
import { type BalancerView, InflightSource, LatencySource, RpsSource } from './balancer.js';
import { CloudWatchCpuSource } from './cloudwatch-cpu.js';
import { NatsSource } from './nats.js';
import { PrometheusSource } from './prometheus.js';
import { RabbitMqSource } from './rabbitmq.js';
import { RedisSource } from './redis.js';
import type { MetricSource } from './source.js';

/** SourceDependencies are the in-process parts balancer sources read. */
export interface SourceDependencies {
  balancer: BalancerView;
  registry: Registry;
}

/**
 * createMetricSource returns the source for `metric`; CPU and memory are read by ProcessCpuWindow
 * and ProcessMemoryWindow instead.
 */
export function createMetricSource(
  metric: Exclude<MetricConfig, { type: 'cpu' | 'memory' }>,
  deps: SourceDependencies,
): MetricSource {
  switch (metric.type) {
    case 'prometheus':
      return new PrometheusSource({
        url: metric.url,
        query: metric.query,
        onWarnings: metric.onWarnings,
        timeout: metric.timeout,
        ...(metric.bearerTokenFile === undefined ? {} : { bearerTokenFile: metric.bearerTokenFile }),
        ...(metric.caFile === undefined ? {} : { caFile: metric.caFile }),
        ...(metric.headers === undefined ? {} : { headers: metric.headers }),
      });
    case 'rabbitmq':
      return new RabbitMqSource({
        url: metric.url,
        queue: metric.queue,
        mode: metric.mode,
        ...(metric.managementUrl === undefined ? {} : { managementUrl: metric.managementUrl }),
      });
    case 'redis':
      return new RedisSource({
        url: metric.url,
        key: metric.key,
        ...(metric.group === undefined ? {} : { group: metric.group }),
        ...(metric.sentinel === undefined ? {} : { sentinel: metric.sentinel }),
        ...(metric.cluster === undefined ? {} : { cluster: metric.cluster }),
      });
    case 'nats':
      return new NatsSource({
        url: metric.url,
        stream: metric.stream,
        consumer: metric.consumer,
        ...(metric.filterSubject === undefined ? {} : { filterSubject: metric.filterSubject }),
        ...(metric.inboxPrefix === undefined ? {} : { inboxPrefix: metric.inboxPrefix }),
      });
    case 'inflight':
      return new InflightSource(deps.balancer);
    case 'rps':
      return new RpsSource(deps.balancer);
    case 'latency':
      return new LatencySource(deps.registry, metric.percentile, undefined, deps.balancer);
  }
}

/**
 * createCpuSource returns the source of a group's `cpu` when its instances are not processes the
 * CPU window can sample: CloudWatch for an AWS group, read with its provider's region and endpoint
 * (and the same credential chain). Kubernetes groups are not read here (mode hpa lets Kubernetes
 * read CPU). undefined: the CPU window.
 */
export function createCpuSource(group: GroupConfig): MetricSource | undefined {
  const provider = group.provider;
  if (provider.provider !== 'aws') return undefined;
  return new CloudWatchCpuSource({
    autoScalingGroup: provider.autoScalingGroup,
    periodMs: provider.monitoring === 'basic' ? 300_000 : 60_000,
    ...(provider.region && { region: provider.region }),
    ...(provider.endpoint && { endpoint: provider.endpoint }),
  });
}

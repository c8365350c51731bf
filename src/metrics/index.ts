export { type BalancerView, InflightSource, LatencySource, RpsSource } from './balancer.js';
export {
  BatchedCounter,
  BatchedGauge,
  BatchedHistogram,
  batchedCounter,
  batchedGauge,
  batchedHistogram,
} from './batched.js';
export {
  CloudWatchCpuSource,
  type CloudWatchCpuSourceOptions,
  type Datapoint,
  newestCompleteDatapoint,
} from './cloudwatch-cpu.js';
export {
  addTotals,
  type MetricsSnapshot,
  mergeSnapshots,
  type RemoteMetrics,
  ScaleplaneRegistry,
} from './cluster.js';
export { createCpuSource, createMetricSource, type SourceDependencies } from './create.js';
export { GroupReadings, type GroupReadingsOptions } from './group-readings.js';
export { DEFAULT_REQUEST_DURATION_BUCKETS, requestDurationBuckets } from './latency-buckets.js';
export { NatsSource, type NatsSourceOptions } from './nats.js';
export { ProcessCpuWindow, type SampleCpu } from './process-cpu.js';
export { type MemoryTarget, ProcessMemoryWindow, type SampleMemory } from './process-memory.js';
export { PrometheusSource, type PrometheusSourceOptions, partialDataWarnings } from './prometheus.js';
export {
  type ManagementRequest,
  publishRate,
  type RabbitMqMode,
  RabbitMqSource,
  type RabbitMqSourceOptions,
  rabbitMqManagementRequest,
  statisticsDisabled,
} from './rabbitmq.js';
export { RedisSource, type RedisSourceOptions } from './redis.js';
export { type CreateMetricsOptions, createMetrics, type ScaleplaneMetrics } from './registry.js';
export {
  DEFAULT_READ_TIMEOUT_MS,
  type MetricSource,
  MetricSourceError,
  PolledMetric,
  type PolledMetricOptions,
  readyCount,
  type SourceContext,
} from './source.js';
export {
  type CredentialedUrl,
  type NatsServer,
  type NatsServers,
  natsServer,
  natsServers,
  redactCredentials,
  splitCredentials,
  splitNatsServers,
} from './url-credentials.js';

export {
  type BackoffOptions,
  backoffDelay,
  DEFAULT_RECONNECT_BACKOFF,
  DEFAULT_RETRY_BACKOFF,
  decideRetry,
  type RetryDecision,
} from './backoff.js';
export { createRedisDedupStore, type DedupStore, type RedisDedupStoreOptions } from './dedup.js';
export { depthRate, readNatsDepth, readRabbitDepth, readRedisDepth, withRate } from './depth.js';
export { type DecodedEnvelope, decodeEnvelope, envelopeProblem } from './envelope.js';
export {
  errorMessage,
  InvalidArgumentError,
  QueueClosedError,
  QueueError,
  type QueueErrorCode,
} from './errors.js';
export type { QueueLogger } from './log.js';
export { type QueueMetrics, queueMetrics } from './metrics.js';
export type { NatsBackendOptions } from './nats/backend.js';
export { createQueue, type PublishOptions, Queue, type QueueOptions } from './queue.js';
export type { RabbitBackendOptions } from './rabbitmq/backend.js';
export {
  type DelayQueueKind,
  delayBucket,
  delayQueue,
  delayQueueKind,
  delayQueueRedeclare,
  type QueueType,
  type RabbitNames,
  rabbitNames,
} from './rabbitmq/topology.js';
export { type RedisBackendOptions, redisKeys } from './redis/backend.js';
export {
  DEFAULT_DEAD_LETTER_RETENTION,
  type DeadLetterRetention,
  natsDeadLetterLimits,
  rabbitDeadLetterArguments,
  redisDeadLetterTrim,
  retentionProblem,
} from './retention.js';
export {
  decideStall,
  type NatsDeliveryCounts,
  natsDeliveryCounts,
  natsMaxDeliver,
  STALL_LIMIT_MESSAGE,
  type StallDecision,
} from './stalls.js';
export type {
  BackendName,
  ConnectionEvent,
  DeadLetter,
  DeadLetterReason,
  Delivery,
  DepthReading,
  JobEnvelope,
  QueueBackend,
  RepublishEvent,
} from './types.js';
export {
  defaultCloseTimeout,
  type JobContext,
  type JobEvent,
  type JobHandler,
  resolveWorkerOptions,
  UnrecoverableError,
  Worker,
  type WorkerOptions,
} from './worker.js';

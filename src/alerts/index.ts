export { createAlertManager, createSink, reconfigureAlertManager, SinkConfigError } from './config.js';
export { AlertError, type AlertErrorCode, AlertSinkError } from './errors.js';
export { inheritOpenAlerts, keepOpenAlerts, type OpenAlertStore } from './handover.js';
export { isRetryable, type PostOptions, postJson, retryDelay } from './http.js';
export { type InheritFacts, type InheritVerdict, judgeInherited } from './inherit.js';
export {
  type AlertAction,
  type AlertTarget,
  deadLetterAlert,
  queueConnectionAlert,
  replicaAlert,
  watchQueue,
  watchReplicas,
  watchWorker,
} from './library.js';
export {
  type AlertLogger,
  AlertManager,
  type AlertManagerEvents,
  type AlertManagerOptions,
} from './manager.js';
export {
  defaultProviderFailureRule,
  type FailureStreak,
  judgeProviderOutcome,
  type ProviderFailureReason,
  type ProviderFailureRule,
  type ProviderFailureState,
  type ProviderFailureVerdict,
} from './provider-rule.js';
export { SentrySink, type SentrySinkOptions } from './sentry.js';
export { SlackSink, type SlackSinkOptions, slackMessage, slackText } from './slack.js';
export type { Alert, AlertInput, AlertSeverity, AlertSink, AlertStatus } from './types.js';
export {
  type AlertSources,
  alertKeys,
  groupHealthy,
  type HealthChange,
  type NginxSyncSource,
  stateLostAlert,
  type WatchOptions,
  watchForAlerts,
} from './watch.js';
export { WebhookSink, type WebhookSinkOptions } from './webhook.js';

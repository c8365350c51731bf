/**
 * Scaleplane's library entry point: run the whole system from code, or use its parts.
 */
export { AlertManager, createAlertManager, watchQueue, watchReplicas, watchWorker } from './alerts/index.js';
export {
  ReloadDuringShutdownError,
  Scaleplane,
  type ScaleplaneOptions,
  ShutdownError,
  StartInterruptedError,
  StartupError,
} from './app.js';
export * from './config/index.js';
export { Controller, DecisionJournal, type GroupStatus, type JournalEntry } from './controller/index.js';
export { createLogger } from './log/index.js';
export { createMetrics, type ScaleplaneMetrics } from './metrics/index.js';
export * from './policy/index.js';

export {
  type BackendView,
  Controller,
  type ControllerOptions,
  type GroupStatus,
  type InstanceStatus,
  type LeaderJournalReader,
  type MetricStatus,
  type MetricUnit,
  metricUnit,
  type StartupStatus,
  type StoredChange,
  type StoreWrites,
} from './controller.js';
export { crashEntry, crashLoopEntry } from './crash-journal.js';
export {
  ControllerError,
  InProgressError,
  LimitExceededError,
  type LimitKind,
  NotLeaderError,
  NotStoredError,
  OutOfRangeError,
  StartingError,
  UnknownGroupError,
} from './errors.js';
export {
  GroupController,
  type GroupControllerOptions,
  type Logger,
  type ManualAction,
  manualTarget,
  type ReadMetrics,
} from './group.js';
export { type HaStartOptions, HighAvailability } from './ha.js';
export {
  type BackendHealthView,
  type EjectionEvent,
  type HealthEvent,
  InstanceHealthWatch,
  type InstanceHealthWatchOptions,
  type RecoveryEvent,
} from './instance-health.js';
export { DecisionJournal, type JournalEntry, type JournalQuery, type JournalSource } from './journal.js';
export { type JournalTail, journalAfter } from './journal-tail.js';
export { LeaderElector, type LeaderElectorOptions, type LeaderEvents } from './leader.js';
export { Leadership, type LeadershipOptions, type LeadershipRole } from './leadership.js';
export {
  connectLease,
  LeaseError,
  type LeaseGrant,
  type LeaseHolder,
  type LeaseStore,
  PostgresLease,
  RedisLease,
} from './lease/index.js';
export { type Persistence, persistDecisions, restoreState } from './persist.js';
export { PolicyMemoryFile, policyMemoryPath } from './policy-memory.js';
export {
  type ReplacementDecision,
  type ReplacementInput,
  type ReplacementReason,
  replacementDecision,
} from './replacement.js';
export {
  type ObservedProvider,
  STANDBY_SYNC_INTERVAL_MS,
  type StandbyGroup,
  StandbyRouter,
  type StandbyRouterOptions,
} from './standby-router.js';
export {
  type LeaveReason,
  mergeTakeover,
  planEngineMembership,
  planStandbyMembership,
  type RecordedMember,
  type RoutedInstance,
  type StandbyPlan,
  type TakeoverMerge,
} from './standby-routing.js';
export {
  type ControllerState,
  FileState,
  openState,
  PostgresState,
  RedisState,
  STATE_FILE,
  StateError,
  type StateStore,
} from './state/index.js';

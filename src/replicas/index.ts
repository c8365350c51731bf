/**
 * scaleplane/replicas: one read/write router over a primary and N replicas, for node-postgres and mysql2
 * pools, routing reads away from replicas whose replication lag is too high.
 */
export {
  type Covers,
  chooseRead,
  type ReadDecision,
  type ReadYourWritesMode,
  type ReplicaView,
  type RouteConfig,
  type RouteReason,
  type SessionWrite,
} from './choose.js';
export {
  classifyStatement,
  type PrimaryReason,
  type ReadReason,
  type SqlDialect,
  type StatementClass,
} from './classify.js';
export {
  PRIMARY,
  type ProbeRound,
  type Queryable,
  type ReplicaDriver,
  type ReplicaSample,
  type TransactionTarget,
  type WrittenAt,
} from './driver.js';
export {
  type EligibilityConfig,
  type EligibilityReason,
  evaluateReplica,
  evaluateWithoutPrimary,
  initialReplicaHealth,
  type LagSample,
  markUnreachable,
  type ReplicaHealth,
} from './eligibility.js';
export {
  DatabaseError,
  type DatabaseErrorDetails,
  NoEligibleReplicaError,
  PrimaryReadOnlyError,
  ReplicaError,
  type ReplicaErrorCode,
} from './errors.js';
export { createReplicaMetrics, type ReplicaMetrics } from './metrics.js';
export {
  appendPosition,
  bypassesReadOnly,
  createMysqlRouter,
  gtidCovers,
  gtidHasWrite,
  lagBelowFromPositions,
  lagFromHeartbeat,
  lagFromReplicaStatus,
  type MysqlFlavor,
  type MysqlResult,
  type MysqlRouterOptions,
  mariadbCovers,
  mariadbHasWrite,
  mysqlCovers,
  type PositionSample,
  type ReplicaStatusRow,
} from './mysql/index.js';
export {
  type Clock,
  type ReadYourWritesOptions,
  type ReplicaRouterOptions,
  type ResolvedRouterOptions,
  type RouterLogger,
  resolveRouterOptions,
} from './options.js';
export {
  createPgRouter,
  estimatePgLag,
  type LsnSample,
  lsnCovers,
  type PgResult,
  type PgRouterOptions,
  parseLsn,
} from './postgres/index.js';
export {
  type DecisionKind,
  type ProbeReport,
  type ReplicaDecision,
  ReplicaRouter,
  type ReplicaRouterEvents,
  type ReplicaStatus,
  type TransactionOptions,
} from './router.js';
export { type QueryObject, type Statement, statementText } from './statement.js';

/**
 * ReplicaErrorCode names every way a replica-router operation can fail. Callers branch on these, never
 * on message text.
 */
export type ReplicaErrorCode =
  | 'REPLICA_INVALID_ARGUMENT'
  | 'REPLICA_CLOSED'
  | 'REPLICA_TRANSACTION_ENDED'
  | 'REPLICA_NO_ELIGIBLE'
  | 'REPLICA_CONNECTION'
  | 'REPLICA_QUERY'
  | 'REPLICA_PROBE'
  | 'REPLICA_PRIMARY_READ_ONLY'
  | 'REPLICA_WRITABLE';

/** ReplicaError is the base of every error the replicas module throws or reports. */
export class ReplicaError extends Error {
  /** Stable machine-readable reason. */
  readonly code: ReplicaErrorCode;

  constructor(code: ReplicaErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ReplicaError';
    this.code = code;
  }
}

/** DatabaseErrorDetails is what both drivers' errors have in common, normalised. */
export interface DatabaseErrorDetails {
  /** `primary` or the replica's name. */
  target: string;
  /** SQLSTATE when the server reported one (`42P01`, `23000`, …). */
  sqlState?: string;
  /** The driver's own code (`ECONNREFUSED`, `ER_DUP_ENTRY`, `57P01`, …). */
  driverCode?: string;
  /** MySQL/MariaDB error number, when there is one. */
  errno?: number;
}

/**
 * DatabaseError is a pg or mysql2 error normalised: `REPLICA_CONNECTION` when the server could not be
 * reached or dropped the connection, `REPLICA_QUERY` when it rejected the statement.
 */
export class DatabaseError extends ReplicaError {
  readonly target: string;
  readonly sqlState: string | undefined;
  readonly driverCode: string | undefined;
  readonly errno: number | undefined;

  constructor(
    code: 'REPLICA_CONNECTION' | 'REPLICA_QUERY',
    message: string,
    details: DatabaseErrorDetails,
    cause: unknown,
  ) {
    super(code, message, { cause });
    this.name = 'DatabaseError';
    this.target = details.target;
    this.sqlState = details.sqlState;
    this.driverCode = details.driverCode;
    this.errno = details.errno;
  }
}

/** NoEligibleReplicaError is thrown for a read when no replica qualifies and `fallback` is `fail`. */
export class NoEligibleReplicaError extends ReplicaError {
  constructor() {
    super('REPLICA_NO_ELIGIBLE', 'no replica is fresh enough to serve the read and fallback is "fail"');
    this.name = 'NoEligibleReplicaError';
  }
}

/**
 * PrimaryReadOnlyError is thrown for a write, before it is sent, while the last probe round found the
 * primary read-only: a PostgreSQL standby (in recovery) or a MySQL/MariaDB server with read_only ON,
 * as after a failover that left the router pointed at the old primary. The message names the host.
 */
export class PrimaryReadOnlyError extends ReplicaError {
  /** Always `primary`. */
  readonly target = 'primary';

  constructor(message: string) {
    super('REPLICA_PRIMARY_READ_ONLY', message);
    this.name = 'PrimaryReadOnlyError';
  }
}

import { DatabaseError } from '../errors.js';

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'POOL_CLOSED',
]);
// ER_CON_COUNT_ERROR, ER_SERVER_SHUTDOWN, ER_CONNECTION_KILLED, CR_* client/network errors.
const CONNECTION_ERRNOS = new Set([1040, 1053, 1927, 2002, 2003, 2006, 2013, 2055]);

/** normalizeMysqlError turns a mysql2 error into a DatabaseError. */
export function normalizeMysqlError(error: unknown, target: string): DatabaseError {
  if (error instanceof DatabaseError) return error;
  const e = (error ?? {}) as {
    code?: unknown;
    errno?: unknown;
    sqlState?: unknown;
    fatal?: unknown;
    message?: unknown;
  };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const errno = typeof e.errno === 'number' ? e.errno : undefined;
  const sqlState = typeof e.sqlState === 'string' ? e.sqlState : undefined;
  const connection =
    e.fatal === true ||
    (code !== undefined && NETWORK_CODES.has(code)) ||
    (errno !== undefined && CONNECTION_ERRNOS.has(errno)) ||
    sqlState === '08S01';
  const message = typeof e.message === 'string' ? e.message : String(error);
  return new DatabaseError(
    connection ? 'REPLICA_CONNECTION' : 'REPLICA_QUERY',
    `${target}: ${message}`,
    { target, sqlState, driverCode: code, errno },
    error,
  );
}

/**
 * normalizeMysqlCheckoutError turns the failure of a pool checkout into a DatabaseError. Whatever it is,
 * the statement was never sent: `REPLICA_CONNECTION`, like pg's checkout timeout, so that a read is
 * retried elsewhere and the router has the probe decide whether the replica is reachable. mysql2's pool
 * refuses a checkout itself, with an Error that has neither code nor errno, when every connection is
 * busy and it may not wait ("No connections available.", `waitForConnections: false`) or its queue is
 * full ("Queue limit reached.", `queueLimit`); the server refuses a new connection's login (1045, a
 * password rotated on the replica). Before, both were `REPLICA_QUERY` and the read failed although the
 * primary could serve it.
 */
export function normalizeMysqlCheckoutError(error: unknown, target: string): DatabaseError {
  const failure = normalizeMysqlError(error, target);
  if (failure.code === 'REPLICA_CONNECTION') return failure;
  return new DatabaseError(
    'REPLICA_CONNECTION',
    failure.message,
    { target, sqlState: failure.sqlState, driverCode: failure.driverCode, errno: failure.errno },
    error,
  );
}

// ER_OPTION_PREVENTS_STATEMENT (--read-only), ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION, ER_READ_ONLY_MODE.
const READ_ONLY_ERRNOS = new Set([1290, 1792, 1836]);

/** isReadOnlyMysqlError: the server refused a statement because it is read-only (mysql2's own test). */
export function isReadOnlyMysqlError(error: unknown): boolean {
  const errno = (error as { errno?: unknown } | null | undefined)?.errno;
  return typeof errno === 'number' && READ_ONLY_ERRNOS.has(errno);
}

/** refusedAsWriteMysql: a read-only replica refused the statement because it writes (a stored function, say). */
export function refusedAsWriteMysql(error: DatabaseError): boolean {
  return error.code === 'REPLICA_QUERY' && error.errno !== undefined && READ_ONLY_ERRNOS.has(error.errno);
}

/** isRetryableMysqlRead: only a server gone or unreachable; a rejected query fails the same elsewhere. */
export function isRetryableMysqlRead(error: DatabaseError): boolean {
  return error.code === 'REPLICA_CONNECTION';
}

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

// ER_OPTION_PREVENTS_STATEMENT (--read-only), ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION, ER_READ_ONLY_MODE.
const READ_ONLY_ERRNOS = new Set([1290, 1792, 1836]);

/** refusedAsWriteMysql: a read-only replica refused the statement because it writes (a stored function, say). */
export function refusedAsWriteMysql(error: DatabaseError): boolean {
  return error.code === 'REPLICA_QUERY' && error.errno !== undefined && READ_ONLY_ERRNOS.has(error.errno);
}

/** isRetryableMysqlRead: only a server gone or unreachable; a rejected query fails the same elsewhere. */
export function isRetryableMysqlRead(error: DatabaseError): boolean {
  return error.code === 'REPLICA_CONNECTION';
}

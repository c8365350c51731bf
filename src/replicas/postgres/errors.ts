import { DatabaseError } from '../errors.js';

// Server-reported states that mean "this server is going away or cannot take you", not "bad query".
// 28000 and 28P01 (login refused: no such role, wrong password) come only while connecting, before
// any statement is sent.
const CONNECTION_STATES = new Set([
  '28000',
  '28P01',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
]);

/** normalizePgError turns a node-postgres error into a DatabaseError. */
export function normalizePgError(error: unknown, target: string): DatabaseError {
  if (error instanceof DatabaseError) return error;
  const e = (error ?? {}) as { code?: unknown; severity?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  // Only errors the server sent carry a severity; everything else pg throws (connection terminated,
  // refused, timed out connecting, client closed) is about reaching the server.
  const fromServer = typeof e.severity === 'string';
  const sqlState = fromServer ? code : undefined;
  const clientBug = error instanceof TypeError || error instanceof RangeError;
  const connection = fromServer ? CONNECTION_STATES.has(code ?? '') : !clientBug;
  const message = typeof e.message === 'string' ? e.message : String(error);
  return new DatabaseError(
    connection ? 'REPLICA_CONNECTION' : 'REPLICA_QUERY',
    `${target}: ${message}`,
    { target, sqlState, driverCode: code },
    error,
  );
}

// read_only_sql_transaction: a hot standby refuses INSERT, nextval() … anywhere in a statement, before it changes anything.
const READ_ONLY_REFUSAL = '25006';

/** refusedAsWritePg: a hot standby refused the statement because it writes (a function with side effects, say). */
export function refusedAsWritePg(error: DatabaseError): boolean {
  return error.code === 'REPLICA_QUERY' && error.sqlState === READ_ONLY_REFUSAL;
}

/** isRetryablePgRead: the server is gone, or a replica cancelled the read for a recovery conflict. */
export function isRetryablePgRead(error: DatabaseError): boolean {
  return error.code === 'REPLICA_CONNECTION' || error.sqlState === '40001';
}

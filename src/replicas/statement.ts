import type { SqlDialect } from './classify.js';
import { ReplicaError } from './errors.js';

/**
 * QueryObject is a client library's query config: node-postgres takes `{ text, values, rowMode, name, … }`,
 * mysql2 `{ sql, values, nestTables, … }`. The router reads only the SQL and hands the object on as it is.
 */
export interface QueryObject {
  readonly text?: string;
  readonly sql?: string;
  readonly [option: string]: unknown;
}

/** Statement is what `db.query` takes: SQL text, or the client library's query config object. */
export type Statement = string | QueryObject;

/** The key each library reads the SQL from in its query config. */
const SQL_KEY: Record<SqlDialect, 'text' | 'sql'> = { postgres: 'text', mysql: 'sql' };

/**
 * statementText is the SQL a statement runs, or null for an object that streams its own rows
 * (pg-cursor, pg-query-stream: anything with `submit()`), which the pool hands back instead of a
 * promise and which therefore stays on the primary, unretried, as it always has.
 * Anything else is a REPLICA_INVALID_ARGUMENT naming what was expected.
 */
export function statementText(statement: unknown, dialect: SqlDialect): string | null {
  if (typeof statement === 'string') return statement;
  const key = SQL_KEY[dialect];
  if (typeof statement === 'object' && statement !== null) {
    if (typeof (statement as { submit?: unknown }).submit === 'function') return null;
    const text = (statement as Record<string, unknown>)[key];
    if (typeof text === 'string') return text;
    throw new ReplicaError(
      'REPLICA_INVALID_ARGUMENT',
      `a query config object needs its SQL in "${key}" (as ${dialect === 'postgres' ? 'node-postgres' : 'mysql2'} reads it), got ${describe(text)}`,
    );
  }
  throw new ReplicaError(
    'REPLICA_INVALID_ARGUMENT',
    `a statement is SQL text or a query config object with "${key}", got ${describe(statement)}`,
  );
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return typeof value;
}

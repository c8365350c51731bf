/**
 * Statement classification: may this SQL run on a replica? Pure and conservative — anything it cannot
 * prove read-only goes to the primary, since a misrouted write fails (or worse, a locking read
 * silently locks nothing) while a misrouted read only costs the primary a little work.
 *
 *   1. lex: words, `(`, `;`, `:=`, `@`; strings, quoted identifiers and comments are skipped, but
 *      not the text of a MySQL executable comment (opened by `/*!`), which the server runs
 *   2. shape: empty → Empty; anything after a `;` → MultiStatement
 *   3. first word: writes, DDL, transaction and session commands → primary; those that leave state on
 *      the connection past the statement and its transaction (SET, USE, LOCK TABLES, CREATE TEMP
 *      TABLE, …) → SessionState, as does any statement that calls a session-scoped function
 *      (`set_config(…, false)`, session advisory locks, MySQL's GET_LOCK) or assigns a MySQL
 *      user variable (`@x := …`, `INTO @x`)
 *   4. SELECT / WITH / VALUES / TABLE / EXPLAIN / DESCRIBE: scan every word for locking clauses,
 *      SELECT … INTO, data-modifying CTEs and functions with side effects
 */

/** SqlDialect picks the lexical rules: MySQL has `#` comments, backticks and backslash escapes. */
export type SqlDialect = 'postgres' | 'mysql';

/** ReadReason says why a statement may run on a replica. */
export type ReadReason = 'Select' | 'ReadOnlyCte' | 'Values' | 'Table' | 'Explain' | 'Describe';

/** PrimaryReason says why a statement must run on the primary. */
export type PrimaryReason =
  | 'Write'
  | 'LockingRead'
  | 'SelectInto'
  | 'Ddl'
  | 'CteWrite'
  | 'MultiStatement'
  | 'SideEffectFunction'
  | 'SessionVariable'
  | 'TransactionControl'
  | 'SessionState'
  | 'SessionCommand'
  | 'Call'
  | 'RefusedByReplica'
  | 'Empty'
  | 'Unknown';

/** StatementClass is the verdict on one statement, with its reason token. */
export type StatementClass =
  | { readOnly: true; reason: ReadReason }
  | { readOnly: false; reason: PrimaryReason };

type Token =
  | { kind: 'word'; text: string }
  | { kind: 'punct'; text: '(' | ')' | ';' | ':=' | '@' | '@@' }
  // Anything else that is not blank: literals, operators. It only matters for "is there more?".
  | { kind: 'other' };

const WRITE_FIRST = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'REPLACE', 'UPSERT', 'COPY', 'LOAD']);
const DDL_FIRST = new Set([
  'CREATE',
  'ALTER',
  'DROP',
  'TRUNCATE',
  'RENAME',
  'COMMENT',
  'GRANT',
  'REVOKE',
  'REINDEX',
  'VACUUM',
  'ANALYZE',
  'CLUSTER',
  'REFRESH',
  'IMPORT',
  'SECURITY',
  'OPTIMIZE',
  'REPAIR',
]);
const TX_FIRST = new Set([
  'BEGIN',
  'START',
  'COMMIT',
  'ROLLBACK',
  'SAVEPOINT',
  'RELEASE',
  'END',
  'ABORT',
  'XA',
  'PREPARE',
]);
const SESSION_FIRST = new Set([
  'SET',
  'RESET',
  'SHOW',
  'DISCARD',
  'LISTEN',
  'UNLISTEN',
  'NOTIFY',
  'LOCK',
  'UNLOCK',
  'USE',
  'DECLARE',
  'FETCH',
  'CLOSE',
  'MOVE',
  'DEALLOCATE',
  'EXECUTE',
  'HANDLER',
  'FLUSH',
  'KILL',
  'CHECKPOINT',
]);
const CALL_FIRST = new Set(['CALL', 'DO']);
const READ_FIRST: Record<string, ReadReason> = {
  SELECT: 'Select',
  WITH: 'ReadOnlyCte',
  VALUES: 'Values',
  TABLE: 'Table',
  EXPLAIN: 'Explain',
  DESCRIBE: 'Describe',
  DESC: 'Describe',
};
/** Words that modify data wherever they appear in a would-be read (CTE bodies, EXPLAIN ANALYZE …). */
const WRITE_ANYWHERE = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);
const SIDE_EFFECT_FUNCTIONS = new Set([
  'NEXTVAL',
  'SETVAL',
  'CURRVAL',
  'LASTVAL',
  'TXID_CURRENT',
  'PG_CURRENT_XACT_ID',
  'PG_NOTIFY',
  'SET_CONFIG',
  'PG_CURRENT_WAL_LSN',
  'PG_CURRENT_WAL_INSERT_LSN',
  'PG_CURRENT_WAL_FLUSH_LSN',
  'PG_SWITCH_WAL',
  'PG_CREATE_RESTORE_POINT',
  'PG_TERMINATE_BACKEND',
  'PG_CANCEL_BACKEND',
  'PG_RELOAD_CONF',
  'DBLINK_EXEC',
  'GET_LOCK',
  'RELEASE_LOCK',
  'RELEASE_ALL_LOCKS',
  'IS_FREE_LOCK',
  'IS_USED_LOCK',
  'LAST_INSERT_ID',
  'FOUND_ROWS',
  'ROW_COUNT',
]);
const SIDE_EFFECT_PREFIXES = ['PG_ADVISORY', 'PG_TRY_ADVISORY', 'LO_'];
/**
 * SESSION_FUNCTIONS hold what they take until the connection releases it or ends, not until the
 * transaction does: on a pooled connection a lock taken through `db.query` stayed held by whichever
 * idle connection ran it, and the caller's later unlock, sent on another one, released nothing.
 * (`pg_advisory_xact_lock` and friends end with their transaction, so they are not here.)
 */
const SESSION_FUNCTIONS: Record<SqlDialect, ReadonlySet<string>> = {
  postgres: new Set([
    'PG_ADVISORY_LOCK',
    'PG_ADVISORY_LOCK_SHARED',
    'PG_TRY_ADVISORY_LOCK',
    'PG_TRY_ADVISORY_LOCK_SHARED',
    'PG_ADVISORY_UNLOCK',
    'PG_ADVISORY_UNLOCK_SHARED',
    'PG_ADVISORY_UNLOCK_ALL',
  ]),
  mysql: new Set(['GET_LOCK', 'RELEASE_LOCK', 'RELEASE_ALL_LOCKS']),
};

/** classifyStatement decides whether `sql` may run on a replica, and why. */
export function classifyStatement(sql: string, dialect: SqlDialect): StatementClass {
  const tokens = lex(sql, dialect);
  if (tokens.length === 0) return { readOnly: false, reason: 'Empty' };
  const semicolon = tokens.findIndex((t) => t.kind === 'punct' && t.text === ';');
  if (semicolon !== -1 && semicolon < tokens.length - 1) return { readOnly: false, reason: 'MultiStatement' };

  const first = tokens.find((t) => t.kind === 'word')?.text;
  if (first === undefined) return { readOnly: false, reason: 'Unknown' };
  if (first !== 'SET' && setsSessionState(tokens, dialect))
    return { readOnly: false, reason: 'SessionState' };
  if (WRITE_FIRST.has(first)) return { readOnly: false, reason: 'Write' };
  if (DDL_FIRST.has(first))
    return { readOnly: false, reason: createsTemporary(first, tokens) ? 'SessionState' : 'Ddl' };
  if (TX_FIRST.has(first) && !opensNoTransaction(first, tokens))
    return { readOnly: false, reason: 'TransactionControl' };
  if (TX_FIRST.has(first) || SESSION_FIRST.has(first))
    return {
      readOnly: false,
      reason: changesSession(first, tokens, dialect) ? 'SessionState' : 'SessionCommand',
    };
  if (CALL_FIRST.has(first)) return { readOnly: false, reason: 'Call' };
  const readReason = READ_FIRST[first];
  if (readReason === undefined) return { readOnly: false, reason: 'Unknown' };
  return scanRead(tokens, first, readReason);
}

/**
 * setsSessionState picks out a statement that, whatever its first word, leaves state on its
 * connection: a session-scoped function (SESSION_FUNCTIONS; PostgreSQL's `set_config(name, value,
 * is_local)` unless `is_local` is written `true`), or (MySQL) a user variable assigned with `:=` or
 * `INTO @x`. Before, these went to whichever primary connection was free as a SideEffectFunction or
 * SessionVariable, and stayed there: the next caller that took it ran with that search_path, held
 * that lock, or read that @x. (SET is changesSession's.)
 */
function setsSessionState(tokens: readonly Token[], dialect: SqlDialect): boolean {
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const next = tokens[i + 1];
    if (dialect === 'mysql' && token.kind === 'punct' && token.text === ':=') return true;
    if (token.kind !== 'word') continue;
    if (dialect === 'mysql' && token.text === 'INTO' && next?.kind === 'punct' && next.text === '@')
      return true;
    if (next?.kind !== 'punct' || next.text !== '(') continue;
    if (SESSION_FUNCTIONS[dialect].has(token.text)) return true;
    if (dialect === 'postgres' && token.text === 'SET_CONFIG' && !lastArgumentIsTrue(tokens, i + 1))
      return true;
  }
  return false;
}

/** lastArgumentIsTrue says whether the call whose `(` is at `open` ends with the word TRUE. */
function lastArgumentIsTrue(tokens: readonly Token[], open: number): boolean {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.kind !== 'punct') continue;
    if (token.text === '(') depth++;
    else if (token.text === ')' && --depth === 0) {
      const last = tokens[i - 1];
      return last?.kind === 'word' && last.text === 'TRUE';
    }
  }
  return false;
}

/**
 * opensNoTransaction picks out the statements that share a first word with transaction control but
 * are not: `START SLAVE`/`START REPLICA` (MySQL) and `PREPARE name …` (a prepared statement; only
 * PostgreSQL's `PREPARE TRANSACTION` is one).
 */
function opensNoTransaction(first: string, tokens: readonly Token[]): boolean {
  const words = tokens.filter((t): t is Extract<Token, { kind: 'word' }> => t.kind === 'word');
  const second = words[1]?.text;
  if (first === 'START') return second !== 'TRANSACTION';
  if (first === 'PREPARE') return second !== 'TRANSACTION';
  return false;
}

/**
 * changesSession picks out the session commands that leave state on the connection after the
 * statement and its transaction: whoever takes the pooled connection next inherits it (a role, a
 * search_path, a statement_timeout, sql_mode, a default database, tables locked, a prepared name).
 * PostgreSQL's `SET LOCAL`, `SET CONSTRAINTS` and `SET TRANSACTION` end with the transaction;
 * MySQL's `SET GLOBAL`/`PERSIST` change the server, not the connection (a later `SESSION`, `LOCAL`
 * or `@variable` in the same SET does).
 */
function changesSession(first: string, tokens: readonly Token[], dialect: SqlDialect): boolean {
  const words = tokens.filter((t): t is Extract<Token, { kind: 'word' }> => t.kind === 'word');
  const second = words[1]?.text;
  if (first === 'SET') {
    if (dialect === 'postgres')
      return second !== 'LOCAL' && second !== 'CONSTRAINTS' && second !== 'TRANSACTION';
    if (tokens.some((t) => t.kind === 'punct' && t.text === '@')) return true;
    if (words.some((w) => w.text === 'SESSION' || w.text === 'LOCAL')) return true;
    return second !== 'GLOBAL' && second !== 'PERSIST' && second !== 'PERSIST_ONLY';
  }
  if (first === 'PREPARE') return second !== 'TRANSACTION';
  if (first === 'LISTEN') return true;
  // MySQL's LOCK TABLES holds its locks until the connection unlocks or ends; PostgreSQL's LOCK ends
  // with its transaction.
  return dialect === 'mysql' && (first === 'USE' || first === 'LOCK');
}

/**
 * createsTemporary picks out `CREATE [GLOBAL|LOCAL] TEMP|TEMPORARY TABLE|VIEW|SEQUENCE …`: the object
 * lives as long as the connection, so the next caller that takes it finds it there (a second
 * `CREATE TEMP TABLE staging` fails "already exists"). PostgreSQL's `ON COMMIT DROP` ends with the
 * transaction.
 */
function createsTemporary(first: string, tokens: readonly Token[]): boolean {
  if (first !== 'CREATE') return false;
  const words = tokens.flatMap((t) => (t.kind === 'word' ? [t.text] : []));
  const object = words.findIndex((w) => w === 'TABLE' || w === 'VIEW' || w === 'SEQUENCE');
  const head = object === -1 ? [] : words.slice(1, object);
  if (!head.includes('TEMP') && !head.includes('TEMPORARY')) return false;
  return !words.some((w, i) => w === 'ON' && words[i + 1] === 'COMMIT' && words[i + 2] === 'DROP');
}

function scanRead(tokens: readonly Token[], first: string, readReason: ReadReason): StatementClass {
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const next = tokens[i + 1];
    if (token.kind === 'other') continue;
    if (token.kind === 'punct') {
      if (token.text === ':=' || token.text === '@') return { readOnly: false, reason: 'SessionVariable' };
      continue;
    }
    const word = token.text;
    const nextWord = next?.kind === 'word' ? next.text : undefined;
    const isCall = next?.kind === 'punct' && next.text === '(';
    if (
      word === 'FOR' &&
      (nextWord === 'UPDATE' || nextWord === 'SHARE' || nextWord === 'NO' || nextWord === 'KEY')
    )
      return { readOnly: false, reason: 'LockingRead' };
    if (word === 'LOCK' && nextWord === 'IN') return { readOnly: false, reason: 'LockingRead' };
    if (word === 'INTO') return { readOnly: false, reason: 'SelectInto' };
    if (WRITE_ANYWHERE.has(word) && !isCall)
      return { readOnly: false, reason: first === 'WITH' ? 'CteWrite' : 'Write' };
    if (isCall && (SIDE_EFFECT_FUNCTIONS.has(word) || SIDE_EFFECT_PREFIXES.some((p) => word.startsWith(p))))
      return { readOnly: false, reason: 'SideEffectFunction' };
    // MariaDB sequences: NEXT VALUE FOR seq, PREVIOUS VALUE FOR seq.
    if ((word === 'NEXT' || word === 'PREVIOUS') && nextWord === 'VALUE')
      return { readOnly: false, reason: 'SideEffectFunction' };
  }
  return { readOnly: true, reason: readReason };
}

const OTHER: Token = { kind: 'other' };
const BLANK = /\s/;
const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;

/** lex keeps only what classification needs; quoted text can never look like a keyword. */
function lex(sql: string, dialect: SqlDialect): Token[] {
  const tokens: Token[] = [];
  const mysql = dialect === 'mysql';
  const n = sql.length;
  let i = 0;
  // Inside a MySQL executable comment (`/*! … */`, `/*!50001 … */`, MariaDB `/*M! … */`): the server
  // runs its text as SQL, so it is lexed as SQL and only its closing `*/` is dropped.
  let executable = false;
  while (i < n) {
    const c = sql[i]!;
    const d = sql[i + 1];
    if (c === '-' && d === '-' && (!mysql || isMysqlDashCommentAt(sql, i))) {
      i = skipLine(sql, i);
    } else if (c === '#' && mysql) {
      i = skipLine(sql, i);
    } else if (mysql && c === '/' && d === '*' && executableCommentBody(sql, i) !== null) {
      i = executableCommentBody(sql, i)!;
      executable = true;
    } else if (executable && c === '*' && d === '/') {
      executable = false;
      i += 2;
    } else if (c === '/' && d === '*') {
      i = skipBlockComment(sql, i, !mysql);
    } else if (c === "'") {
      i = skipQuoted(sql, i, "'", mysql || isEscapeString(sql, i));
      tokens.push(OTHER);
    } else if (c === '"') {
      i = skipQuoted(sql, i, '"', mysql);
      tokens.push(OTHER);
    } else if (c === '`' && mysql) {
      i = skipQuoted(sql, i, '`', false);
      tokens.push(OTHER);
    } else if (c === '$' && !mysql && dollarTag(sql, i) !== null) {
      const tag = dollarTag(sql, i)!;
      const end = sql.indexOf(tag, i + tag.length);
      i = end === -1 ? n : end + tag.length;
      tokens.push(OTHER);
    } else if (WORD_START.test(c)) {
      let j = i + 1;
      while (j < n && WORD_PART.test(sql[j]!)) j++;
      tokens.push({ kind: 'word', text: sql.slice(i, j).toUpperCase() });
      i = j;
    } else if (c === '(' || c === ')' || c === ';') {
      tokens.push({ kind: 'punct', text: c });
      i++;
    } else if (c === ':' && d === '=') {
      tokens.push({ kind: 'punct', text: ':=' });
      i += 2;
    } else if (c === '@' && mysql) {
      if (d === '@') {
        tokens.push({ kind: 'punct', text: '@@' });
        i += 2;
      } else {
        tokens.push({ kind: 'punct', text: '@' });
        i++;
      }
    } else {
      if (!BLANK.test(c)) tokens.push(OTHER);
      i++;
    }
  }
  return tokens;
}

/** MySQL's `--` starts a comment only before a blank or control character: `1--1` is `1 - -1`. */
function isMysqlDashCommentAt(sql: string, i: number): boolean {
  const after = sql.charCodeAt(i + 2);
  return Number.isNaN(after) || after <= 32 || after === 127;
}

/**
 * executableCommentBody is where the SQL inside a MySQL executable comment starts (`/*!`, with an
 * optional version number, or MariaDB's `/*M!`), or null for an ordinary comment or a `/*+` hint.
 */
function executableCommentBody(sql: string, i: number): number | null {
  const match = /^\/\*M?!\d*/.exec(sql.slice(i, i + 16));
  return match === null ? null : i + match[0].length;
}

function skipLine(sql: string, i: number): number {
  const end = sql.indexOf('\n', i);
  return end === -1 ? sql.length : end + 1;
}

function skipBlockComment(sql: string, i: number, nested: boolean): number {
  // PostgreSQL block comments nest; MySQL's do not.
  let depth = 0;
  let j = i;
  while (j < sql.length) {
    if (sql[j] === '/' && sql[j + 1] === '*') {
      depth = nested ? depth + 1 : 1;
      j += 2;
    } else if (sql[j] === '*' && sql[j + 1] === '/') {
      depth--;
      j += 2;
      if (depth <= 0) return j;
    } else {
      j++;
    }
  }
  return j;
}

function skipQuoted(sql: string, i: number, quote: string, backslash: boolean): number {
  let j = i + 1;
  while (j < sql.length) {
    const c = sql[j];
    if (backslash && c === '\\') {
      j += 2;
    } else if (c === quote) {
      if (sql[j + 1] === quote) j += 2;
      else return j + 1;
    } else {
      j++;
    }
  }
  return j;
}

function isEscapeString(sql: string, quoteAt: number): boolean {
  const prev = sql[quoteAt - 1];
  return (prev === 'E' || prev === 'e') && !WORD_PART.test(sql[quoteAt - 2] ?? ' ');
}

function dollarTag(sql: string, i: number): string | null {
  const match = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 64));
  if (match === null) return null;
  // `$1` is a parameter, not a tag; a tag cannot follow a word character either.
  if (i > 0 && WORD_PART.test(sql[i - 1]!)) return null;
  return match[0];
}

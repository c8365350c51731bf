import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyStatement, type SqlDialect, type StatementClass } from '../../src/replicas/index.js';

type Case = [sql: string, expected: StatementClass['reason'], dialect?: SqlDialect | 'both'];

// [sql, reason, dialect] — reason tokens say where it goes: read reasons → replica, the rest → primary.
const cases: Case[] = [
  // plain reads
  ['SELECT 1', 'Select', 'both'],
  ['select * from users where id = $1', 'Select', 'postgres'],
  ['SELECT * FROM users WHERE id = ?', 'Select', 'mysql'],
  ['  \n\tSELECT now()', 'Select', 'both'],
  ['(SELECT a FROM t) UNION (SELECT b FROM u)', 'Select', 'both'],
  ['SELECT 1;', 'Select', 'both'],
  ['SELECT 1;  -- done', 'Select', 'both'],
  ['/* leading */ SELECT 1', 'Select', 'both'],
  ['-- comment\nSELECT 1', 'Select', 'both'],
  ['# comment\nSELECT 1', 'Select', 'mysql'],
  ['/* nested /* comment */ INSERT */ SELECT 1', 'Select', 'postgres'],
  ['/*+ MAX_EXECUTION_TIME(1000) */ SELECT 1', 'Select', 'mysql'],
  ["SELECT 'INSERT INTO t VALUES (1); DELETE FROM t' AS s", 'Select', 'both'],
  ["SELECT 'it''s; UPDATE x' AS s", 'Select', 'both'],
  ["SELECT 'it\\'s; UPDATE x' AS s", 'Select', 'mysql'],
  ["SELECT E'it\\'s; UPDATE x' AS s", 'Select', 'postgres'],
  ['SELECT $$ DELETE FROM t; $$ AS body', 'Select', 'postgres'],
  ['SELECT $fn$ DELETE FROM t; $fn$ AS body', 'Select', 'postgres'],
  ['SELECT "update", "delete" FROM "insert"', 'Select', 'postgres'],
  ['SELECT `update`, `delete` FROM `insert`', 'Select', 'mysql'],
  ['SELECT "for update" AS s', 'Select', 'mysql'],
  ['SELECT REPLACE(name, ?, ?) FROM t', 'Select', 'mysql'],
  ['SELECT INSERT(name, 1, 2, ?) FROM t', 'Select', 'mysql'],
  ['SELECT count(*) FROM t GROUP BY a HAVING count(*) > 1 ORDER BY 1 LIMIT 10', 'Select', 'both'],
  ['SELECT * FROM t WHERE id IN (SELECT id FROM u)', 'Select', 'both'],
  ['SELECT pg_last_wal_replay_lsn()', 'Select', 'postgres'],
  ['SELECT @@port', 'Select', 'mysql'],
  ['SELECT $1::int', 'Select', 'postgres'],
  ['SELECT * FROM t WHERE a = $1 AND b = $2', 'Select', 'postgres'],
  ['WITH x AS (SELECT 1 AS a) SELECT a FROM x', 'ReadOnlyCte', 'both'],
  [
    'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r',
    'ReadOnlyCte',
    'both',
  ],
  ['VALUES (1), (2)', 'Values', 'postgres'],
  ['TABLE users', 'Table', 'postgres'],
  ['EXPLAIN SELECT * FROM t', 'Explain', 'both'],
  ['EXPLAIN ANALYZE SELECT * FROM t', 'Explain', 'both'],
  ['DESCRIBE t', 'Describe', 'mysql'],
  ['DESC t', 'Describe', 'mysql'],
  // writes
  ['INSERT INTO t (a) VALUES ($1)', 'Write', 'both'],
  ['insert into t values (1)', 'Write', 'both'],
  ['UPDATE t SET a = 1', 'Write', 'both'],
  ['DELETE FROM t', 'Write', 'both'],
  ['MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN DELETE', 'Write', 'postgres'],
  ['REPLACE INTO t VALUES (1)', 'Write', 'mysql'],
  ['COPY t FROM STDIN', 'Write', 'postgres'],
  ['LOAD DATA INFILE "x" INTO TABLE t', 'Write', 'mysql'],
  ['INSERT INTO t SELECT * FROM u', 'Write', 'both'],
  ['  -- c\n/* c */ UPDATE t SET a = 1', 'Write', 'both'],
  ['(INSERT INTO t VALUES (1))', 'Write', 'postgres'],
  ['EXPLAIN ANALYZE UPDATE t SET a = 1', 'Write', 'both'],
  ['EXPLAIN DELETE FROM t', 'Write', 'both'],
  // locking reads
  ['SELECT * FROM t FOR UPDATE', 'LockingRead', 'both'],
  ['SELECT * FROM t WHERE id = 1 FOR UPDATE NOWAIT', 'LockingRead', 'both'],
  ['SELECT * FROM t FOR UPDATE SKIP LOCKED', 'LockingRead', 'both'],
  ['select * from t for share', 'LockingRead', 'both'],
  ['SELECT * FROM t FOR NO KEY UPDATE', 'LockingRead', 'postgres'],
  ['SELECT * FROM t FOR KEY SHARE', 'LockingRead', 'postgres'],
  ['SELECT * FROM t LOCK IN SHARE MODE', 'LockingRead', 'mysql'],
  ['SELECT * FROM (SELECT * FROM t FOR UPDATE) x', 'LockingRead', 'both'],
  // MySQL runs the text of an executable comment, and `--` is a comment only before a blank.
  ['SELECT * FROM t /*! FOR UPDATE */', 'LockingRead', 'mysql'],
  ['SELECT * FROM t /*!50001 LOCK IN SHARE MODE */', 'LockingRead', 'mysql'],
  ['SELECT * FROM t /*M!100100 FOR UPDATE */', 'LockingRead', 'mysql'],
  ['SELECT /*!40001 SQL_NO_CACHE */ * FROM t', 'Select', 'mysql'],
  ['SELECT /*+ MAX_EXECUTION_TIME(1) */ * FROM t /* FOR UPDATE */', 'Select', 'mysql'],
  ['SELECT * FROM t /* FOR UPDATE */', 'Select', 'both'],
  ['SELECT * FROM t WHERE id = 2--1 FOR UPDATE', 'LockingRead', 'mysql'],
  ['SELECT * FROM t WHERE id = 2-- 1 FOR UPDATE', 'Select', 'mysql'],
  ['SELECT * FROM t WHERE id = 2--\tFOR UPDATE', 'Select', 'mysql'],
  ['SELECT * FROM t WHERE id = 2--', 'Select', 'mysql'],
  ['SELECT * FROM t WHERE id = 2--1 FOR UPDATE', 'Select', 'postgres'],
  // SELECT … INTO
  ['SELECT * INTO new_table FROM t', 'SelectInto', 'postgres'],
  ['SELECT a INTO @x FROM t', 'SessionState', 'mysql'],
  ["SELECT a FROM t INTO OUTFILE '/tmp/x'", 'SelectInto', 'mysql'],
  // DDL
  ['CREATE TABLE t (a int)', 'Ddl', 'both'],
  ['create index on t (a)', 'Ddl', 'both'],
  ['ALTER TABLE t ADD COLUMN b int', 'Ddl', 'both'],
  ['DROP TABLE t', 'Ddl', 'both'],
  ['TRUNCATE t', 'Ddl', 'both'],
  ['GRANT SELECT ON t TO u', 'Ddl', 'both'],
  ['REVOKE SELECT ON t FROM u', 'Ddl', 'both'],
  ['VACUUM ANALYZE t', 'Ddl', 'postgres'],
  ['ANALYZE t', 'Ddl', 'postgres'],
  ['REFRESH MATERIALIZED VIEW v', 'Ddl', 'postgres'],
  ['COMMENT ON TABLE t IS $$x$$', 'Ddl', 'postgres'],
  ['RENAME TABLE a TO b', 'Ddl', 'mysql'],
  ['OPTIMIZE TABLE t', 'Ddl', 'mysql'],
  // CTEs with writes
  ['WITH x AS (INSERT INTO t VALUES (1) RETURNING id) SELECT * FROM x', 'CteWrite', 'postgres'],
  ['WITH x AS (DELETE FROM t RETURNING *) SELECT count(*) FROM x', 'CteWrite', 'postgres'],
  ['WITH x AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM x', 'CteWrite', 'postgres'],
  ['WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x', 'CteWrite', 'both'],
  ['WITH x AS (SELECT 1) UPDATE t SET a = 1', 'CteWrite', 'both'],
  ['WITH x AS (SELECT 1) DELETE FROM t', 'CteWrite', 'both'],
  // multi-statements
  ['SELECT 1; SELECT 2', 'MultiStatement', 'both'],
  ['SELECT 1; DELETE FROM t', 'MultiStatement', 'both'],
  ['SELECT 1;DELETE FROM t;', 'MultiStatement', 'both'],
  ['SELECT 1; /* c */ UPDATE t SET a = 1', 'MultiStatement', 'both'],
  ["SELECT ';'; SELECT 2", 'MultiStatement', 'both'],
  // side effects and session state
  ["SELECT nextval('seq')", 'SideEffectFunction', 'postgres'],
  ["select setval('seq', 10)", 'SideEffectFunction', 'postgres'],
  ["SELECT currval('seq')", 'SideEffectFunction', 'postgres'],
  ['SELECT lastval()', 'SideEffectFunction', 'postgres'],
  // Session-scoped: held by the connection past the transaction.
  ['SELECT pg_advisory_lock(1)', 'SessionState', 'postgres'],
  ['SELECT pg_try_advisory_lock_shared(1, 2)', 'SessionState', 'postgres'],
  ['SELECT pg_advisory_unlock(1)', 'SessionState', 'postgres'],
  ['SELECT pg_try_advisory_xact_lock(1)', 'SideEffectFunction', 'postgres'],
  ['SELECT pg_advisory_unlock_all()', 'SessionState', 'postgres'],
  ['SELECT pg_advisory_xact_lock(1)', 'SideEffectFunction', 'postgres'],
  ['SELECT txid_current()', 'SideEffectFunction', 'postgres'],
  ['SELECT pg_current_wal_lsn()', 'SideEffectFunction', 'postgres'],
  ["SELECT pg_notify('c', 'x')", 'SideEffectFunction', 'postgres'],
  ["SELECT set_config('a.b', 'c', false)", 'SessionState', 'postgres'],
  ['SELECT set_config($1, $2, $3)', 'SessionState', 'postgres'],
  ["SELECT set_config('a.b', lower('C'), true)", 'SideEffectFunction', 'postgres'],
  ["SELECT set_config('a.b', 'c', TRUE), 1", 'SideEffectFunction', 'postgres'],
  ["UPDATE t SET a = 1 WHERE set_config('a.b', 'c', false) IS NOT NULL", 'SessionState', 'postgres'],
  ["SELECT lo_import('/tmp/x')", 'SideEffectFunction', 'postgres'],
  ["SELECT GET_LOCK('x', 1)", 'SessionState', 'mysql'],
  ["SELECT RELEASE_LOCK('x')", 'SessionState', 'mysql'],
  ['SELECT RELEASE_ALL_LOCKS()', 'SessionState', 'mysql'],
  ["SELECT IS_FREE_LOCK('x')", 'SideEffectFunction', 'mysql'],
  ["INSERT INTO t SELECT GET_LOCK('x', 1)", 'SessionState', 'mysql'],
  ['UPDATE t SET a = (@n := @n + 1)', 'SessionState', 'mysql'],
  ['SET GLOBAL max_connections := 200', 'SessionCommand', 'mysql'],
  ['SELECT LAST_INSERT_ID()', 'SideEffectFunction', 'mysql'],
  ['SELECT FOUND_ROWS()', 'SideEffectFunction', 'mysql'],
  ['SELECT ROW_COUNT()', 'SideEffectFunction', 'mysql'],
  ['SELECT NEXT VALUE FOR s', 'SideEffectFunction', 'mysql'],
  ['SELECT NEXTVAL(s)', 'SideEffectFunction', 'mysql'],
  ['SELECT @x', 'SessionVariable', 'mysql'],
  ['SELECT @x := 1', 'SessionState', 'mysql'],
  // transaction control, session commands, procedures
  ['BEGIN', 'TransactionControl', 'both'],
  ['START TRANSACTION', 'TransactionControl', 'both'],
  ['START TRANSACTION READ ONLY', 'TransactionControl', 'both'],
  ['BEGIN WORK', 'TransactionControl', 'mysql'],
  ['END', 'TransactionControl', 'postgres'],
  ["XA START 'x'", 'TransactionControl', 'mysql'],
  ['START SLAVE', 'SessionCommand', 'mysql'],
  ['START REPLICA SQL_THREAD', 'SessionCommand', 'mysql'],
  ['COMMIT', 'TransactionControl', 'both'],
  ['ROLLBACK', 'TransactionControl', 'both'],
  ['SAVEPOINT a', 'TransactionControl', 'both'],
  ['RELEASE SAVEPOINT a', 'TransactionControl', 'both'],
  ['SET search_path TO x', 'SessionState', 'postgres'],
  ['SET ROLE reporting', 'SessionState', 'postgres'],
  ['SET SESSION statement_timeout = 1', 'SessionState', 'postgres'],
  ['SET LOCAL statement_timeout = 1', 'SessionCommand', 'postgres'],
  ['SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'SessionCommand', 'postgres'],
  ['SET CONSTRAINTS ALL DEFERRED', 'SessionCommand', 'postgres'],
  ['SET NAMES utf8mb4', 'SessionState', 'mysql'],
  ["SET sql_mode = ''", 'SessionState', 'mysql'],
  ['SET @x = 1', 'SessionState', 'mysql'],
  ['SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED', 'SessionState', 'mysql'],
  ['SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED', 'SessionState', 'mysql'],
  ['SET GLOBAL read_only = 1', 'SessionCommand', 'mysql'],
  ['SET @@GLOBAL.read_only = 1', 'SessionCommand', 'mysql'],
  ['SET GLOBAL a = 1, SESSION b = 2', 'SessionState', 'mysql'],
  ['SHOW TABLES', 'SessionCommand', 'mysql'],
  ['SHOW work_mem', 'SessionCommand', 'postgres'],
  ['LOCK TABLE t IN ACCESS EXCLUSIVE MODE', 'SessionCommand', 'postgres'],
  ['LOCK TABLES t WRITE', 'SessionState', 'mysql'],
  ['UNLOCK TABLES', 'SessionCommand', 'mysql'],
  ['LISTEN c', 'SessionState', 'postgres'],
  ["NOTIFY c, 'x'", 'SessionCommand', 'postgres'],
  ['USE db', 'SessionState', 'mysql'],
  ['SET autocommit = 0', 'SessionState', 'mysql'],
  ['CREATE TEMP TABLE staging (id int)', 'SessionState', 'postgres'],
  ['CREATE GLOBAL TEMPORARY TABLE staging AS SELECT 1', 'SessionState', 'postgres'],
  ['CREATE OR REPLACE TEMP VIEW v AS SELECT 1', 'SessionState', 'postgres'],
  ['CREATE TEMP TABLE staging (id int) ON COMMIT DELETE ROWS', 'SessionState', 'postgres'],
  ['CREATE TEMP TABLE staging (id int) ON COMMIT DROP', 'Ddl', 'postgres'],
  ['CREATE TEMPORARY TABLE staging (id int)', 'SessionState', 'mysql'],
  ['CREATE TABLE temp (id int)', 'Ddl', 'both'],
  ['CALL proc(1)', 'Call', 'both'],
  ['DO $$ BEGIN PERFORM 1; END $$', 'Call', 'postgres'],
  // unknown and empty
  ['', 'Empty', 'both'],
  ['   ', 'Empty', 'both'],
  ['-- only a comment', 'Empty', 'both'],
  [';', 'Unknown', 'both'],
  ['FROBNICATE t', 'Unknown', 'both'],
  ['PREPARE s AS SELECT 1', 'SessionState', 'postgres'],
  ["PREPARE TRANSACTION 'x'", 'TransactionControl', 'postgres'],
  ['EXECUTE s', 'SessionCommand', 'postgres'],
  ['123', 'Unknown', 'both'],
  // unterminated quotes hide nothing: still conservative
  ["SELECT 'unterminated; DELETE FROM t", 'Select', 'both'],
  ['SELECT 1 /* unterminated', 'Select', 'both'],
];

const READ_REASONS = new Set(['Select', 'ReadOnlyCte', 'Values', 'Table', 'Explain', 'Describe']);

describe('classifyStatement', () => {
  for (const [sql, reason, dialect = 'both'] of cases) {
    const dialects: SqlDialect[] = dialect === 'both' ? ['postgres', 'mysql'] : [dialect];
    for (const d of dialects) {
      it(`${d}: ${JSON.stringify(sql)} → ${reason}`, () => {
        const verdict = classifyStatement(sql, d);
        assert.equal(verdict.reason, reason);
        assert.equal(verdict.readOnly, READ_REASONS.has(reason));
      });
    }
  }

  it('# is an operator, not a comment, in PostgreSQL', () => {
    assert.equal(classifyStatement('SELECT 1 # 2 FROM t FOR UPDATE', 'postgres').reason, 'LockingRead');
    assert.equal(classifyStatement('SELECT 1 # 2 FROM t FOR UPDATE', 'mysql').reason, 'Select');
  });

  it('backslash escapes only where the dialect has them', () => {
    // In PostgreSQL 'a\' is a whole string, so the statement continues with a real DELETE.
    assert.equal(
      classifyStatement("SELECT 'a\\'; DELETE FROM t; SELECT 'x'", 'postgres').reason,
      'MultiStatement',
    );
    assert.equal(classifyStatement("SELECT 'a\\'; DELETE FROM t; SELECT 'x'", 'mysql').reason, 'Select');
  });
});

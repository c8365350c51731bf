import pg from 'pg';
import type { Alert } from '../../alerts/types.js';
import type { JournalEntry } from '../journal.js';
import type { JournalTail } from '../journal-tail.js';
import { createTable } from '../lease/postgres.js';
import { WriteFence } from './fence.js';
import {
  type ControllerState,
  type LocalInstanceRecord,
  type SavedSize,
  StateError,
  type StateStore,
} from './types.js';

/** PostgresStateOptions configures a PostgresState. */
export interface PostgresStateOptions {
  url: string;
  /**
   * Table prefix: `<name>_desired`, `<name>_journal`, `<name>_instances`, `<name>_sizes`, `<name>_alerts`, and the
   * sequences `<name>_write_seq` and `<name>_journal_next`. @defaultValue 'scaleplane'
   */
  name?: string;
  /** @defaultValue 1000 */
  journalSize?: number;
  /**
   * A query (or connection) that takes longer fails, and its connection is replaced: a paused or
   * partitioned database must not hold a scale-in (it awaits the draining record) or the journal's
   * writes forever. @defaultValue 5000 (ms)
   */
  queryTimeout?: number;
  /**
   * The lease's name when the lease lives in this database (`<lease>_lease`): every write then
   * checks, in its own statement, that the lease row still holds the writer's fencing token (see
   * `fence`). Absent: writes are not fenced. @defaultValue undefined
   */
  lease?: string;
}

/**
 * How many times an append is tried again when its seq was stored first by a writer that does not
 * take it from the journal's sequence (a controller of an older version); the sequence is first
 * moved past the table's newest seq each time.
 */
const MAX_SEQ_ATTEMPTS = 5;

/** How many writes older than the newest a removed instance's tombstone is kept (see `remove`). */
const TOMBSTONE_WRITES = 100_000;

/**
 * PostgresState keeps controller state in four tables, shared by every controller of the lease.
 *
 * A write that timed out may still run later: the query was sent, and the database runs it when it
 * reads it (a paused server or backend, a stalled proxy), after a newer write of the same row went
 * through a new connection. So each desired count and size carries a number from a PostgreSQL
 * sequence, taken in its own round trip *before* the write is sent, and a row is only replaced by a
 * higher one: a write decided later always holds the higher number, whichever process or leader took
 * it, and no clock is involved. Instance records too: a removed one stays as a tombstone (NULL record)
 * holding its number, so a late `put` of it cannot bring back an instance that is gone.
 *
 * With `lease`, each write also locks the lease row (FOR SHARE) in the same statement and only goes
 * through while the row holds the writer's fencing token. A takeover's UPDATE of that row waits for
 * a write under way, and a write that comes after it sees the new token: a deposed leader (paused
 * past its lease, then resumed) cannot write after its successor took the lease.
 */
export class PostgresState implements StateStore {
  readonly backend = 'postgres';
  readonly #pool: pg.Pool;
  readonly #desired: string;
  readonly #journal: string;
  readonly #journalSeqIndex: string;
  readonly #journalSeqKey: string;
  /** The sequence journal seqs are taken from, and as a regclass literal. */
  readonly #journalNextName: string;
  readonly #journalNext: string;
  /** The advisory lock that an append holds while it takes its seq and inserts. */
  readonly #journalTurn: string;
  readonly #instances: string;
  readonly #sizes: string;
  readonly #alerts: string;
  readonly #sequence: string;
  readonly #journalSize: number;
  readonly #lease: string | undefined;
  readonly #fence = new WriteFence();
  #closed = false;

  constructor(options: PostgresStateOptions) {
    const name = options.name ?? 'scaleplane';
    this.#desired = pg.escapeIdentifier(`${name}_desired`);
    this.#journal = pg.escapeIdentifier(`${name}_journal`);
    this.#journalSeqIndex = pg.escapeIdentifier(`${name}_journal_seq`);
    this.#journalSeqKey = pg.escapeIdentifier(`${name}_journal_seq_key`);
    this.#journalNextName = pg.escapeIdentifier(`${name}_journal_next`);
    this.#journalNext = `${pg.escapeLiteral(this.#journalNextName)}::regclass`;
    this.#journalTurn = `pg_advisory_xact_lock(hashtext('scaleplane journal'), hashtext(${pg.escapeLiteral(`${name}_journal`)}))`;
    this.#instances = pg.escapeIdentifier(`${name}_instances`);
    this.#sizes = pg.escapeIdentifier(`${name}_sizes`);
    this.#alerts = pg.escapeIdentifier(`${name}_alerts`);
    this.#sequence = pg.escapeIdentifier(`${name}_write_seq`);
    this.#journalSize = options.journalSize ?? 1000;
    this.#lease = options.lease === undefined ? undefined : pg.escapeIdentifier(`${options.lease}_lease`);
    // One connection: writes land in the order they were made.
    const timeout = options.queryTimeout ?? 5000;
    this.#pool = new pg.Pool({
      connectionString: options.url,
      max: 1,
      connectionTimeoutMillis: timeout,
      query_timeout: timeout,
    });
    this.#pool.on('error', () => {});
  }

  /** connect creates the tables if needed; rejects STATE_UNAVAILABLE when PostgreSQL does not answer. */
  async connect(): Promise<void> {
    try {
      await createTable(
        this.#pool,
        `CREATE TABLE IF NOT EXISTS ${this.#desired} (group_name text PRIMARY KEY, desired integer NOT NULL)`,
      );
      // Tables written before the column existed keep working: their rows count as written first.
      await this.#pool.query(
        `ALTER TABLE ${this.#desired} ADD COLUMN IF NOT EXISTS write_seq bigint NOT NULL DEFAULT 0`,
      );
      await createTable(this.#pool, `CREATE SEQUENCE IF NOT EXISTS ${this.#sequence}`);
      await createTable(
        this.#pool,
        `CREATE TABLE IF NOT EXISTS ${this.#sizes} (
           group_name text PRIMARY KEY, saved jsonb, write_seq bigint NOT NULL)`,
      );
      await createTable(
        this.#pool,
        `CREATE TABLE IF NOT EXISTS ${this.#alerts} (
           key text PRIMARY KEY, alert jsonb, write_seq bigint NOT NULL)`,
      );
      await createTable(
        this.#pool,
        `CREATE TABLE IF NOT EXISTS ${this.#journal} (id bigserial PRIMARY KEY, entry jsonb NOT NULL)`,
      );
      // One entry a seq (see appendJournal): a table written before held two at one seq when two
      // controllers both led; the later of each is moved past the newest, as an append is now.
      await this.#pool.query(
        `UPDATE ${this.#journal} AS j SET entry = jsonb_set(j.entry, '{seq}', to_jsonb(d.top + d.k))
         FROM (SELECT id, top, row_number() OVER (ORDER BY id) AS k
               FROM (SELECT id, max(seq) OVER () AS top, row_number() OVER (PARTITION BY seq ORDER BY id) AS n
                     FROM (SELECT id, (entry->>'seq')::bigint AS seq FROM ${this.#journal}) AS s) AS x
               WHERE n > 1) AS d
         WHERE j.id = d.id`,
      );
      // Unique, the seq an append allocates is checked by it; an append also looks for its own
      // entry by seq: without an index, a scan comparing every row's JSON, 113 ms on 10,000 rows
      // (the largest journal_size). It replaces the plain index tables were created with.
      await createTable(
        this.#pool,
        `CREATE UNIQUE INDEX IF NOT EXISTS ${this.#journalSeqKey} ON ${this.#journal} (((entry->>'seq')::bigint))`,
      );
      await this.#pool.query(`DROP INDEX IF EXISTS ${this.#journalSeqIndex}`);
      // Dropped with the table (owned by its column).
      await createTable(
        this.#pool,
        `CREATE SEQUENCE IF NOT EXISTS ${this.#journalNextName} OWNED BY ${this.#journal}.entry`,
      );
      await this.#syncJournalSeq();
      await createTable(
        this.#pool,
        `CREATE TABLE IF NOT EXISTS ${this.#instances} (
           group_name text NOT NULL, id text NOT NULL, record jsonb NOT NULL, PRIMARY KEY (group_name, id))`,
      );
      // Removed records stay as tombstones (NULL) with their write number; older rows count as first.
      await this.#pool.query(
        `ALTER TABLE ${this.#instances} ADD COLUMN IF NOT EXISTS write_seq bigint NOT NULL DEFAULT 0`,
      );
      await this.#pool.query(`ALTER TABLE ${this.#instances} ALTER COLUMN record DROP NOT NULL`);
    } catch (err) {
      throw new StateError('STATE_UNAVAILABLE', `state: cannot use PostgreSQL (${(err as Error).message})`, {
        cause: err,
      });
    }
  }

  async load(): Promise<ControllerState> {
    const desired = await this.#pool.query<{ group_name: string; desired: number }>(
      `SELECT group_name, desired FROM ${this.#desired}`,
    );
    return {
      desired: Object.fromEntries(desired.rows.map((r) => [r.group_name, r.desired])),
      journal: await this.loadJournal(),
    };
  }

  /**
   * loadJournal reads the newest journalSize rows (by id, as written) in seq order: a row written
   * late (a deposed leader's append landing after its successor's, in a store the lease does not
   * fence) has a newer id than entries with a higher seq. Before, they came in id order.
   */
  async loadJournal(): Promise<JournalEntry[]> {
    const journal = await this.#pool.query<{ entry: JournalEntry }>(
      `SELECT entry FROM ${this.#journal} ORDER BY id DESC LIMIT $1`,
      [this.#journalSize],
    );
    // Sorted here, stable (ties in id order): in the query, 59 ms rather than 17 at 10,000 rows.
    return journal.rows
      .map((r) => r.entry)
      .reverse()
      .sort((a, b) => a.seq - b.seq);
  }

  /**
   * loadJournalAfter selects, of the rows loadJournal reads (the newest journalSize: those from the
   * journalSize-th newest id on), those with a seq above `seq`, and the newest seq and the time at
   * `seq` (of the first written, as loadJournal orders them) in the same statement: only the new
   * entries are sent, none when nothing is new. Each through the seq index, with the window as a
   * bound on the id (an index-only scan of journalSize ids): before, the window's rows were read
   * and their JSON decoded on every poll, 120 ms a poll at a journal_size of 10,000, now 3 ms, most
   * of it the walk over the window's ids that bounds it (0.7 ms at the default 1000,
   * bench/journal/load.ts). The entries come as rows (see below).
   */
  async loadJournalAfter(seq: number): Promise<JournalTail> {
    // The entries as rows, one jsonb each, the newest seq and the time at `seq` on every row (one
    // row with no entry when none is new). Before, they came as one jsonb_agg array: building it
    // took the server ~280 ms at 10,000 entries, and the read after 0 (a stream's `hello`) ~2.5
    // times as long as now (bench/journal/load.ts).
    const result = await this.#pool.query<{
      newest: string | null;
      at_time: string | null;
      entry: JournalEntry | null;
    }>(
      `WITH kept AS (
         SELECT coalesce((SELECT id FROM ${this.#journal} ORDER BY id DESC OFFSET $2 - 1 LIMIT 1), 0) AS id),
       head AS (
         SELECT (SELECT (entry->>'seq')::bigint FROM ${this.#journal} WHERE id >= (SELECT id FROM kept)
                   ORDER BY (entry->>'seq')::bigint DESC LIMIT 1)::text AS newest,
                (SELECT entry->>'time' FROM ${this.#journal}
                   WHERE (entry->>'seq')::bigint = $1 AND id >= (SELECT id FROM kept) ORDER BY id LIMIT 1) AS at_time)
       SELECT head.newest, head.at_time, fresh.entry
       FROM head LEFT JOIN LATERAL (
         SELECT entry, id FROM ${this.#journal} WHERE (entry->>'seq')::bigint > $1 AND id >= (SELECT id FROM kept)
       ) AS fresh ON TRUE
       ORDER BY (fresh.entry->>'seq')::bigint, fresh.id`,
      [seq, this.#journalSize],
    );
    const head = result.rows[0]!;
    const entries: JournalEntry[] = [];
    for (const row of result.rows) if (row.entry !== null) entries.push(row.entry);
    return {
      entries,
      newestSeq: head.newest === null ? 0 : Number(head.newest),
      ...(head.at_time !== null && { timeAtSeq: head.at_time }),
    };
  }

  async saveDesired(group: string, desired: number): Promise<void> {
    this.#assertArmed(`saveDesired(${group})`);
    const seq = await this.#nextSeq();
    await this.#write(
      `saveDesired(${group})`,
      `INSERT INTO ${this.#desired} AS d (group_name, desired, write_seq) SELECT $1, $2, $3 WHERE $FENCE
       ON CONFLICT (group_name) DO UPDATE SET desired = EXCLUDED.desired, write_seq = EXCLUDED.write_seq
       WHERE d.write_seq < EXCLUDED.write_seq RETURNING 1 AS r`,
      [group, desired, seq],
    );
  }

  async getSize(group: string): Promise<SavedSize | undefined> {
    const result = await this.#pool.query<{ saved: SavedSize | null }>(
      `SELECT saved FROM ${this.#sizes} WHERE group_name = $1`,
      [group],
    );
    return result.rows[0]?.saved ?? undefined;
  }

  async putSize(group: string, saved: SavedSize | undefined): Promise<void> {
    this.#assertArmed(`putSize(${group})`);
    const seq = await this.#nextSeq();
    // A cleared size stays as a NULL row, so its number still outranks an older write.
    await this.#write(
      `putSize(${group})`,
      `INSERT INTO ${this.#sizes} AS s (group_name, saved, write_seq) SELECT $1, $2::jsonb, $3 WHERE $FENCE
       ON CONFLICT (group_name) DO UPDATE SET saved = EXCLUDED.saved, write_seq = EXCLUDED.write_seq
       WHERE s.write_seq < EXCLUDED.write_seq RETURNING 1 AS r`,
      [group, saved === undefined ? null : JSON.stringify(saved), seq],
    );
  }

  async openAlerts(): Promise<Alert[]> {
    const result = await this.#pool.query<{ alert: Alert }>(
      `SELECT alert FROM ${this.#alerts} WHERE alert IS NOT NULL ORDER BY key`,
    );
    return result.rows.map((r) => r.alert);
  }

  async putAlert(key: string, alert: Alert | undefined): Promise<void> {
    this.#assertArmed(`putAlert(${key})`);
    const seq = await this.#nextSeq();
    // A closed alert stays as a NULL row, so a late write of its firing cannot reopen it.
    await this.#write(
      `putAlert(${key})`,
      `INSERT INTO ${this.#alerts} AS a (key, alert, write_seq) SELECT $1, $2::jsonb, $3 WHERE $FENCE
       ON CONFLICT (key) DO UPDATE SET alert = EXCLUDED.alert, write_seq = EXCLUDED.write_seq
       WHERE a.write_seq < EXCLUDED.write_seq RETURNING 1 AS r`,
      [key, alert === undefined ? null : JSON.stringify(alert), seq],
    );
  }

  get fencedByLease(): boolean {
    return this.#lease !== undefined;
  }

  fence(token: number | undefined, holder?: string): void {
    // With the holder, a write also needs the lease row to name it (as PostgresLease.check): a lease
    // row that lost its latest writes (an asynchronous standby promoted, the row deleted) is inserted
    // afresh with token 1 by the next leader, the token an old leader may still write with.
    this.#fence.set(token, holder);
  }

  onFenced(listener: (err: StateError) => void): void {
    this.#fence.onRefused(listener);
  }

  /** assertArmed refuses a write at once, without a round trip, when fenced and holding no lease. */
  #assertArmed(what: string): void {
    if (this.#lease !== undefined && this.#fence.token === undefined)
      throw this.#fence.refused(what, undefined);
  }

  /**
   * write runs one write statement whose `$FENCE` is its guard: with a lease, that the lease row,
   * locked FOR SHARE in the same statement, holds this store's token; rejects STATE_FENCED when
   * it does not. Without a lease the guard is TRUE. Resolves the statement's first `RETURNING … AS r`.
   */
  async #write(what: string, sql: string, params: unknown[]): Promise<string | null> {
    if (this.#lease === undefined) {
      const result = await this.#pool.query<{ r: string }>(sql.replace('$FENCE', 'TRUE'), params);
      return result.rows[0] ? String(result.rows[0].r) : null;
    }
    const token = this.#fence.token;
    if (token === undefined) throw this.#fence.refused(what, undefined);
    const n = params.length + 1;
    const holder = this.#fence.holder;
    const held = holder === undefined ? `token = $${n}` : `token = $${n} AND holder = $${n + 1}`;
    const result = await this.#pool.query<{ current: string | null; mine: boolean; r: string | null }>(
      `WITH fence AS (SELECT token, holder FROM ${this.#lease} WHERE id = 'leader' FOR SHARE),
            w AS (${sql.replace('$FENCE', `EXISTS (SELECT 1 FROM fence WHERE ${held})`)})
       SELECT (SELECT token::text || ':' || holder FROM fence) AS current,
              EXISTS (SELECT 1 FROM fence WHERE ${held}) AS mine, (SELECT r::text FROM w LIMIT 1) AS r`,
      holder === undefined ? [...params, token] : [...params, token, holder],
    );
    const row = result.rows[0]!;
    if (!row.mine) throw this.#fence.refused(what, token, row.current);
    return row.r;
  }

  /**
   * syncJournalSeq moves the journal's sequence up to the newest seq stored (never down), under the
   * appends' lock: a table written before the sequence was, or by a controller that takes no seq
   * from it.
   */
  async #syncJournalSeq(): Promise<void> {
    await this.#pool.query(
      `SELECT setval(${this.#journalNext}, top.seq)
       FROM (SELECT ${this.#journalTurn}) AS turn,
            LATERAL (SELECT max((entry->>'seq')::bigint) AS seq FROM ${this.#journal}) AS top
       WHERE top.seq >= (SELECT last_value FROM ${this.#journalNextName})`,
    );
  }

  /** nextSeq takes the next write number; it is taken before the write is sent (see the class). */
  async #nextSeq(): Promise<string> {
    const result = await this.#pool.query<{ seq: string }>(`SELECT nextval($1::regclass)::text AS seq`, [
      this.#sequence,
    ]);
    return result.rows[0]!.seq;
  }

  /**
   * appendJournal stores the entry at a seq allocated in the statement that writes it: its own, when
   * it is above every seq stored before, else the next, so two writers of one unfenced store (two
   * controllers that both think they lead) never store different entries at one seq. The seq comes
   * from the sequence `<name>_journal_next`, moved up to the entry's own when that is higher, while
   * the statement holds an advisory lock (until it commits): a sequence is read as it is now, not
   * as of the statement's snapshot, so a writer that waited for the lock takes the seq after the
   * one just stored. A unique index on the seq backs it (see MAX_SEQ_ATTEMPTS). Before, both
   * entries were stored at that seq, and a reader holding it never saw the other.
   * An entry is named by its fields apart from the seq: it is not inserted when a row at its seq or
   * above holds it already (an insert that timed out but ran, on a stalled connection, before or
   * after persistDecisions wrote it again, and may have been renumbered). A repeat's `replaced` row
   * (found so too) is instead rewritten in one statement: the entry, and a new id, so that it sorts
   * as the newest. When that row is gone (trimmed, or moved by a first write of this one), the entry
   * is inserted. Resolves the seq it is stored at (or held at, the newest such).
   */
  async appendJournal(entry: JournalEntry, replaced?: JournalEntry): Promise<number> {
    this.#assertArmed('appendJournal');
    const seq = `(entry->>'seq')::bigint`;
    // The subqueries with volatile functions are not flattened: the lock is taken before nextval.
    const next = `SELECT setval(${this.#journalNext}, GREATEST(nextval(${this.#journalNext}), $2::bigint)) AS seq
                  FROM (SELECT ${this.#journalTurn}) AS turn`;
    let written: string | null = null;
    for (let attempt = 1; ; attempt++) {
      try {
        if (replaced !== undefined)
          written = await this.#write(
            'appendJournal',
            `UPDATE ${this.#journal}
             SET id = nextval(pg_get_serial_sequence(${pg.escapeLiteral(this.#journal)}, 'id')),
                 entry = jsonb_set($1::jsonb, '{seq}', to_jsonb((${next})))
             WHERE id = (SELECT id FROM ${this.#journal} WHERE ${seq} >= $3 AND entry - 'seq' = $4::jsonb - 'seq'
                         ORDER BY ${seq} DESC LIMIT 1)
               AND $FENCE RETURNING id::text || ':' || (entry->>'seq') AS r`,
            // Compared as the seq index holds it: as text, every repeat (one a tick while a provider
            // keeps failing) scanned the whole journal.
            [JSON.stringify(entry), entry.seq, replaced.seq, JSON.stringify(replaced)],
          );
        written ??= await this.#write(
          'appendJournal',
          `INSERT INTO ${this.#journal} (entry)
           SELECT jsonb_set($1::jsonb, '{seq}', to_jsonb(n.seq)) FROM (${next}
             WHERE $FENCE AND NOT EXISTS (
               SELECT 1 FROM ${this.#journal} WHERE ${seq} >= $2 AND entry - 'seq' = $1::jsonb - 'seq')) AS n
           ON CONFLICT DO NOTHING RETURNING id::text || ':' || (entry->>'seq') AS r`,
          [JSON.stringify(entry), entry.seq],
        );
      } catch (err) {
        if ((err as { code?: string }).code !== '23505' || attempt >= MAX_SEQ_ATTEMPTS) throw err;
        await this.#syncJournalSeq();
        continue;
      }
      if (written !== null) break;
      // Nothing inserted: the entry was there already, or a writer that takes no seq from the
      // sequence stored that one first.
      const held = await this.#pool.query<{ seq: string }>(
        `SELECT ${seq}::text AS seq FROM ${this.#journal} WHERE ${seq} >= $2 AND entry - 'seq' = $1::jsonb - 'seq'
         ORDER BY ${seq} DESC LIMIT 1`,
        [JSON.stringify(entry), entry.seq],
      );
      if (held.rows[0] !== undefined) return journalSeq(held.rows[0].seq, entry);
      if (attempt >= MAX_SEQ_ATTEMPTS)
        throw new StateError(
          'STATE_UNAVAILABLE',
          `state: journal entry ${entry.seq} not written: its seq was taken by another writer ${attempt} times`,
        );
      await this.#syncJournalSeq();
    }
    // `id:seq`, as the statements return it.
    const [id, stored = ''] = written.split(':');
    // Trim now and then rather than on every insert, by rank: what is older than the newest
    // `journalSize` rows. Not `id <= id - journalSize`: each repeat takes a new id for its row and
    // leaves a hole, so ids are not a count of rows. Before, `journal_size` repeats (a provider
    // failing tick after tick repeats a pair) moved the ids past the whole history, and the next
    // trim deleted all of it but the repeated entries: a successor restored just those.
    if (Number(id) % 100 === 0)
      await this.#pool.query(
        `DELETE FROM ${this.#journal}
         WHERE id <= (SELECT id FROM ${this.#journal} ORDER BY id DESC OFFSET $1 LIMIT 1)`,
        [this.#journalSize],
      );
    return journalSeq(stored, entry);
  }

  async list(group: string): Promise<LocalInstanceRecord[]> {
    const result = await this.#pool.query<{ record: LocalInstanceRecord }>(
      `SELECT record FROM ${this.#instances} WHERE group_name = $1 AND record IS NOT NULL ORDER BY id`,
      [group],
    );
    return result.rows.map((r) => r.record);
  }

  async put(group: string, record: LocalInstanceRecord): Promise<void> {
    await this.#putRecord(`put(${group}, ${record.id})`, group, record.id, JSON.stringify(record));
  }

  /**
   * remove leaves a tombstone (NULL record) holding its write number, so a late `put` of the same
   * instance (timed out, run later by a stalled backend) cannot bring it back. Tombstones more than
   * TOMBSTONE_WRITES writes old are deleted now and then: no write stalls that long.
   */
  async remove(group: string, id: string): Promise<void> {
    const seq = await this.#putRecord(`remove(${group}, ${id})`, group, id, null);
    if (Number(seq) % 100 === 0)
      await this.#pool.query(`DELETE FROM ${this.#instances} WHERE record IS NULL AND write_seq < $1`, [
        Number(seq) - TOMBSTONE_WRITES,
      ]);
  }

  /** putRecord writes an instance record (null: a tombstone) with a new write number; resolves it. */
  async #putRecord(what: string, group: string, id: string, record: string | null): Promise<string> {
    this.#assertArmed(what);
    const seq = await this.#nextSeq();
    await this.#write(
      what,
      `INSERT INTO ${this.#instances} AS i (group_name, id, record, write_seq) SELECT $1, $2, $3::jsonb, $4
       WHERE $FENCE
       ON CONFLICT (group_name, id) DO UPDATE SET record = EXCLUDED.record, write_seq = EXCLUDED.write_seq
       WHERE i.write_seq < EXCLUDED.write_seq RETURNING 1 AS r`,
      [group, id, record, seq],
    );
    return seq;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}

/**
 * journalSeq is the seq a journal statement answers it stored (or found) `entry` at, as text: a
 * positive integer, else a STATE_CORRUPT error naming the entry.
 */
function journalSeq(answer: string, entry: JournalEntry): number {
  const seq = Number(answer);
  if (Number.isSafeInteger(seq) && seq > 0) return seq;
  throw new StateError(
    'STATE_CORRUPT',
    `state: journal entry ${entry.seq}: the store answered ${JSON.stringify(answer)} for the seq it stored it at, not a positive integer`,
  );
}

import pg from 'pg';
import type { JournalEntry } from '../journal.js';
import { createTable } from '../lease/postgres.js';
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
   * Table prefix: `<name>_desired`, `<name>_journal`, `<name>_instances`, `<name>_sizes`, and the
   * sequence `<name>_write_seq`. @defaultValue 'scaleplane'
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
}

/**
 * PostgresState keeps controller state in four tables, shared by every controller of the lease.
 *
 * A write that timed out may still run later: the query was sent, and the database runs it when it
 * reads it (a paused server or backend, a stalled proxy), after a newer write of the same row went
 * through a new connection. So each desired count and size carries a number from a PostgreSQL
 * sequence, taken in its own round trip *before* the write is sent, and a row is only replaced by a
 * higher one: a write decided later always holds the higher number, whichever process or leader took
 * it, and no clock is involved.
 */
export class PostgresState implements StateStore {
  readonly backend = 'postgres';
  readonly #pool: pg.Pool;
  readonly #desired: string;
  readonly #journal: string;
  readonly #instances: string;
  readonly #sizes: string;
  readonly #sequence: string;
  readonly #journalSize: number;
  #closed = false;

  constructor(options: PostgresStateOptions) {
    const name = options.name ?? 'scaleplane';
    this.#desired = pg.escapeIdentifier(`${name}_desired`);
    this.#journal = pg.escapeIdentifier(`${name}_journal`);
    this.#instances = pg.escapeIdentifier(`${name}_instances`);
    this.#sizes = pg.escapeIdentifier(`${name}_sizes`);
    this.#sequence = pg.escapeIdentifier(`${name}_write_seq`);
    this.#journalSize = options.journalSize ?? 1000;
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
        `CREATE TABLE IF NOT EXISTS ${this.#journal} (id bigserial PRIMARY KEY, entry jsonb NOT NULL)`,
      );
      await createTable(
        this.#pool,
        `CREATE TABLE IF NOT EXISTS ${this.#instances} (
           group_name text NOT NULL, id text NOT NULL, record jsonb NOT NULL, PRIMARY KEY (group_name, id))`,
      );
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
    const journal = await this.#pool.query<{ entry: JournalEntry }>(
      `SELECT entry FROM ${this.#journal} ORDER BY id DESC LIMIT $1`,
      [this.#journalSize],
    );
    return {
      desired: Object.fromEntries(desired.rows.map((r) => [r.group_name, r.desired])),
      journal: journal.rows.map((r) => r.entry).reverse(),
    };
  }

  async saveDesired(group: string, desired: number): Promise<void> {
    const seq = await this.#nextSeq();
    await this.#pool.query(
      `INSERT INTO ${this.#desired} AS d (group_name, desired, write_seq) VALUES ($1, $2, $3)
       ON CONFLICT (group_name) DO UPDATE SET desired = EXCLUDED.desired, write_seq = EXCLUDED.write_seq
       WHERE d.write_seq < EXCLUDED.write_seq`,
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
    const seq = await this.#nextSeq();
    // A cleared size stays as a NULL row, so its number still outranks an older write.
    await this.#pool.query(
      `INSERT INTO ${this.#sizes} AS s (group_name, saved, write_seq) VALUES ($1, $2, $3)
       ON CONFLICT (group_name) DO UPDATE SET saved = EXCLUDED.saved, write_seq = EXCLUDED.write_seq
       WHERE s.write_seq < EXCLUDED.write_seq`,
      [group, saved === undefined ? null : JSON.stringify(saved), seq],
    );
  }

  /** nextSeq takes the next write number; it is taken before the write is sent (see the class). */
  async #nextSeq(): Promise<string> {
    const result = await this.#pool.query<{ seq: string }>(`SELECT nextval($1::regclass)::text AS seq`, [
      this.#sequence,
    ]);
    return result.rows[0]!.seq;
  }

  async appendJournal(entry: JournalEntry): Promise<void> {
    const inserted = await this.#pool.query<{ id: string }>(
      `INSERT INTO ${this.#journal} (entry) VALUES ($1) RETURNING id`,
      [JSON.stringify(entry)],
    );
    const id = Number(inserted.rows[0]!.id);
    // Trim now and then rather than on every insert.
    if (id % 100 === 0)
      await this.#pool.query(`DELETE FROM ${this.#journal} WHERE id <= $1`, [id - this.#journalSize]);
  }

  async list(group: string): Promise<LocalInstanceRecord[]> {
    const result = await this.#pool.query<{ record: LocalInstanceRecord }>(
      `SELECT record FROM ${this.#instances} WHERE group_name = $1 ORDER BY id`,
      [group],
    );
    return result.rows.map((r) => r.record);
  }

  async put(group: string, record: LocalInstanceRecord): Promise<void> {
    await this.#pool.query(
      `INSERT INTO ${this.#instances} (group_name, id, record) VALUES ($1, $2, $3)
       ON CONFLICT (group_name, id) DO UPDATE SET record = EXCLUDED.record`,
      [group, record.id, JSON.stringify(record)],
    );
  }

  async remove(group: string, id: string): Promise<void> {
    await this.#pool.query(`DELETE FROM ${this.#instances} WHERE group_name = $1 AND id = $2`, [group, id]);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}

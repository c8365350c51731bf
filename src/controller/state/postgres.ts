import pg from 'pg';
import type { JournalEntry } from '../journal.js';
import { createTable } from '../lease/postgres.js';
import { type ControllerState, type LocalInstanceRecord, StateError, type StateStore } from './types.js';

/** PostgresStateOptions configures a PostgresState. */
export interface PostgresStateOptions {
  url: string;
  /** Table prefix: `<name>_desired`, `<name>_journal`, `<name>_instances`. @defaultValue 'scaleplane' */
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

/** PostgresState keeps controller state in three tables, shared by every controller of the lease. */
export class PostgresState implements StateStore {
  readonly backend = 'postgres';
  readonly #pool: pg.Pool;
  readonly #desired: string;
  readonly #journal: string;
  readonly #instances: string;
  readonly #journalSize: number;
  #closed = false;

  constructor(options: PostgresStateOptions) {
    const name = options.name ?? 'scaleplane';
    this.#desired = pg.escapeIdentifier(`${name}_desired`);
    this.#journal = pg.escapeIdentifier(`${name}_journal`);
    this.#instances = pg.escapeIdentifier(`${name}_instances`);
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
    await this.#pool.query(
      `INSERT INTO ${this.#desired} (group_name, desired) VALUES ($1, $2)
       ON CONFLICT (group_name) DO UPDATE SET desired = EXCLUDED.desired`,
      [group, desired],
    );
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

import pg from 'pg';
import { checkHolder } from './redis.js';
import { LeaseError, type LeaseGrant, type LeaseHolder, type LeaseStore } from './types.js';

/** PostgresLeaseOptions configures a PostgresLease. */
export interface PostgresLeaseOptions {
  /** `postgres://user@host:port/db`. */
  url: string;
  /** Table prefix: the lease row lives in `<name>_lease`. @defaultValue 'scaleplane' */
  name?: string;
  /** A query that takes longer fails, so a hung connection cannot stretch a lease. @defaultValue 2000 (ms) */
  queryTimeout?: number;
}

/**
 * PostgresLease is the leader lease as one row of `<name>_lease`: holder, expiry and a fencing
 * token, each acquisition, renewal or check one statement judged by the database's clock.
 */
export class PostgresLease implements LeaseStore {
  readonly backend = 'postgres';
  readonly #pool: pg.Pool;
  readonly #table: string;
  /** The highest fencing token seen here: the floor of the next one (see RedisLease, ACQUIRE). */
  #seen = 0;
  #closed = false;

  constructor(options: PostgresLeaseOptions) {
    this.#table = pg.escapeIdentifier(`${options.name ?? 'scaleplane'}_lease`);
    const timeout = options.queryTimeout ?? 2000;
    this.#pool = new pg.Pool({
      connectionString: options.url,
      max: 2,
      connectionTimeoutMillis: timeout,
      query_timeout: timeout,
    });
    // An idle client's error is reported by the next query; the pool replaces the client.
    this.#pool.on('error', () => {});
  }

  /** connect creates the table if needed; rejects LEASE_UNAVAILABLE when PostgreSQL does not answer. */
  async connect(): Promise<void> {
    try {
      await createTable(
        this.#pool,
        `CREATE TABLE IF NOT EXISTS ${this.#table} (
          id text PRIMARY KEY,
          holder text NOT NULL,
          token bigint NOT NULL,
          expires_at timestamptz NOT NULL)`,
      );
    } catch (err) {
      throw new LeaseError('LEASE_UNAVAILABLE', `lease: cannot use PostgreSQL (${(err as Error).message})`, {
        cause: err,
      });
    }
  }

  async acquire(holder: string, ttlMs: number): Promise<LeaseGrant | undefined> {
    checkHolder(holder);
    // One statement: insert the first row, or take over an expired one with token + 1, or renew
    // our own. Row locking makes two concurrent takeovers serialize; the loser's WHERE fails.
    // A new token is above the highest this client has seen ($3): a lease row lost (a restore, a
    // promoted standby that lacked it) must not hand out tokens older than the deposed leader's.
    const t = this.#table;
    const result = await this.#pool.query<{ token: string; holder: string }>(
      `INSERT INTO ${t} AS l (id, holder, token, expires_at)
       VALUES ('leader', $1, $3::bigint + 1, clock_timestamp() + $2 * interval '1 millisecond')
       ON CONFLICT (id) DO UPDATE SET
         token = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > clock_timestamp()
                      THEN l.token ELSE GREATEST(l.token, $3::bigint) + 1 END,
         holder = EXCLUDED.holder,
         expires_at = EXCLUDED.expires_at
       WHERE l.expires_at <= clock_timestamp() OR l.holder = EXCLUDED.holder
       RETURNING token, holder`,
      [holder, Math.ceil(ttlMs), this.#seen],
    );
    const row = result.rows[0];
    if (row) this.#see(Number(row.token));
    // Lost: read the holder's token, the floor of our next try.
    else await this.current().catch(() => undefined);
    return row ? { holder: row.holder, token: Number(row.token) } : undefined;
  }

  async renew(grant: LeaseGrant, ttlMs: number): Promise<boolean> {
    const result = await this.#pool.query(
      `UPDATE ${this.#table} SET expires_at = clock_timestamp() + $3 * interval '1 millisecond'
       WHERE id = 'leader' AND holder = $1 AND token = $2 AND expires_at > clock_timestamp()`,
      [grant.holder, grant.token, Math.ceil(ttlMs)],
    );
    return result.rowCount === 1;
  }

  async release(grant: LeaseGrant): Promise<void> {
    await this.#pool.query(
      `UPDATE ${this.#table} SET expires_at = clock_timestamp()
       WHERE id = 'leader' AND holder = $1 AND token = $2`,
      [grant.holder, grant.token],
    );
  }

  async check(grant: LeaseGrant): Promise<boolean> {
    // The holder too, as RedisLease.check: a failover to an asynchronous standby can hand a token out twice.
    const result = await this.#pool.query(
      `SELECT 1 FROM ${this.#table}
       WHERE id = 'leader' AND token = $1 AND holder = $2 AND expires_at > clock_timestamp()`,
      [grant.token, grant.holder],
    );
    return result.rowCount === 1;
  }

  async current(): Promise<LeaseHolder | undefined> {
    const result = await this.#pool.query<{ token: string; holder: string; ms: string }>(
      `SELECT token, holder, (extract(epoch FROM expires_at - clock_timestamp()) * 1000)::bigint AS ms
       FROM ${this.#table} WHERE id = 'leader' AND expires_at > clock_timestamp()`,
    );
    const row = result.rows[0];
    if (row) this.#see(Number(row.token));
    return row ? { token: Number(row.token), holder: row.holder, expiresInMs: Number(row.ms) } : undefined;
  }

  /** highestToken is the highest fencing token this client has seen (0: none yet). */
  get highestToken(): number {
    return this.#seen;
  }

  #see(token: number): void {
    if (Number.isSafeInteger(token) && token > this.#seen) this.#seen = token;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}

/**
 * The errors a CREATE … IF NOT EXISTS fails with when another session created the object between
 * its check and its insert into the catalog, each meaning "it exists": a unique violation on the
 * catalog (23505), duplicate_table (42P07), and duplicate_object (42710: `type "x_instances" already
 * exists`, the table's row type, committed by the other session). 3 controllers connecting at once
 * to fresh tables failed 6 of 90 connects with 42710 before it was listed here.
 */
const ALREADY_CREATED = new Set(['23505', '42P07', '42710']);

/** createTable runs a CREATE … IF NOT EXISTS that several controllers may run at the same moment. */
export async function createTable(pool: pg.Pool, ddl: string): Promise<void> {
  try {
    await pool.query(ddl);
  } catch (err) {
    if (!ALREADY_CREATED.has((err as { code?: string }).code ?? '')) throw err;
  }
}

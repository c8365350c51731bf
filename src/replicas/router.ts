import { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
import {
  chooseRead,
  type ReadDecision,
  type ReplicaView,
  type RouteConfig,
  type SessionWrite,
} from './choose.js';
import { classifyStatement, type StatementClass } from './classify.js';
import { PRIMARY, type Queryable, type ReplicaDriver } from './driver.js';
import {
  type EligibilityReason,
  evaluateReplica,
  evaluateWithoutPrimary,
  initialReplicaHealth,
  type ReplicaHealth,
} from './eligibility.js';
import { DatabaseError, NoEligibleReplicaError, PrimaryReadOnlyError, ReplicaError } from './errors.js';
import { LostSignal } from './lost.js';
import { createReplicaMetrics, type ReplicaMetrics } from './metrics.js';
import { type ReplicaRouterOptions, type ResolvedRouterOptions, resolveRouterOptions } from './options.js';
import { otherPrimary, type PrimarySighting, samePrimary } from './primary-identity.js';
import { type Statement, statementText } from './statement.js';

/** ReplicaStatus is one replica as the router sees it now. */
export interface ReplicaStatus {
  name: string;
  eligible: boolean;
  reason: EligibilityReason;
  /** ms; null = unknown. */
  lag: number | null;
  /** Which measurement gave the lag (`caught-up`, `wal-history`, `heartbeat`, `replica-status`, …). */
  source: string;
  position: string | null;
  inFlight: number;
  /** ms timestamp of the last probe sample. */
  probedAt: number;
}

/** ProbeReport is emitted as 'probe' after every probe round. */
export interface ProbeReport {
  router: string;
  at: number;
  primaryReachable: boolean;
  /** The primary answered but takes no writes (in recovery, read_only ON): writes are refused. */
  primaryReadOnly: boolean;
  replicas: ReplicaStatus[];
  /** Probe failures of this round, by target. */
  errors: Array<{ target: string; error: ReplicaError }>;
}

/** DecisionKind names the routing decisions worth a journal entry (state changes, not every read). */
export type DecisionKind =
  | 'ReplicaAdmitted'
  | 'ReplicaExcluded'
  | 'ReplicaRestored'
  | 'FallbackStarted'
  | 'FallbackEnded'
  | 'ReadRetried'
  | 'ReadRefusedAsWrite'
  | 'PrimaryUnreachable'
  | 'PrimaryRestored'
  | 'PrimaryReadOnly'
  | 'PrimaryWritable'
  | 'PrimaryReplaced';

/** ReplicaDecision is emitted as 'decision'; the controller's journal can record it as is. */
export interface ReplicaDecision {
  router: string;
  at: number;
  kind: DecisionKind;
  /** The replica concerned, if any. */
  replica?: string;
  /** Stable reason tokens (EligibilityReason, RouteReason, error codes). */
  reasons: string[];
  /** ms, the replica's lag when it applies. */
  lag?: number | null;
  message: string;
}

/** ReplicaRouterEvents types the router's events. */
export interface ReplicaRouterEvents {
  probe: [ProbeReport];
  decision: [ReplicaDecision];
  error: [ReplicaError];
}

interface Session {
  write: SessionWrite | null;
  /** The router's primary epoch when `write` was sent (see ReplicaRouter.#primaryEpoch). */
  epoch: number;
}

interface Context<R> {
  session: Session | null;
  tx: TransactionHandle<R> | null;
}

/**
 * TransactionHandle is the `tx` given to `db.transaction(fn)`, and what `db.query` inside it uses. It
 * ends when `fn` settles: the driver then commits and returns the connection to the pool, where the
 * next caller's transaction takes it. A statement issued later by work `fn` started (a promise not
 * awaited, a timer, a listener registered inside it, all of which keep the async context) ran on that
 * connection, inside somebody else's transaction. Now `tx.query` refuses it, and `db.query` routes it
 * as if no transaction were open.
 */
class TransactionHandle<R> implements Queryable<R> {
  ended = false;
  /**
   * A statement of it left state on the connection past the transaction (SET, USE, LOCK TABLES …:
   * SessionState): the connection is closed instead of going back to the pool (see #runTransaction).
   */
  changedSession = false;
  readonly #tx: Queryable<R>;
  readonly #normalize: (error: unknown) => DatabaseError;
  readonly #retired: () => ReplicaError | null;
  readonly #classify: (statement: Statement) => StatementClass;

  /**
   * `normalize` makes a failed statement the DatabaseError `db.query` would give for it; `retired`
   * tells why the transaction's connection may no longer be used (the primary's role changed since
   * it began), or null.
   */
  constructor(
    tx: Queryable<R>,
    normalize: (error: unknown) => DatabaseError,
    retired: () => ReplicaError | null,
    classify: (statement: Statement) => StatementClass,
  ) {
    this.#tx = tx;
    this.#normalize = normalize;
    this.#retired = retired;
    this.#classify = classify;
  }

  query(statement: Statement, params?: readonly unknown[]): Promise<R> {
    if (this.ended)
      return Promise.reject(
        new ReplicaError(
          'REPLICA_TRANSACTION_ENDED',
          'this transaction has ended (its connection is back in the pool); run the statement through db.query, or inside the transaction',
        ),
      );
    const retired = this.#retired();
    if (retired !== null) return Promise.reject(retired);
    // Marked before it is sent: a statement that fails may still have changed the session (MySQL's SET
    // is not undone by a ROLLBACK). A statement that is no SQL the router reads fails in the pool.
    try {
      if (this.#classify(statement).reason === 'SessionState') this.changedSession = true;
    } catch {}
    return this.#tx.query(statement, params).catch((error: unknown) => {
      throw this.#normalize(error);
    });
  }
}

/** openTransaction is the context's transaction while it is open, else null (statements route as usual). */
function openTransaction<R>(context: Context<R> | undefined): TransactionHandle<R> | null {
  const tx = context?.tx;
  return tx && !tx.ended ? tx : null;
}

interface ReplicaState {
  view: ReplicaView;
  health: ReplicaHealth;
  source: string;
  /** Reads not yet handed to the counter (see ReplicaMetrics.onCollect). */
  reads: number;
  /** Fires when the replica is found unreachable, so reads in flight there are retried elsewhere. */
  lost: LostSignal;
}

/**
 * ReplicaRouter sends each statement to the primary or a fresh-enough replica, over any driver.
 * Build one with `createPgRouter` or `createMysqlRouter`; `start()` it; `close()` it.
 */
export class ReplicaRouter<R> extends EventEmitter<ReplicaRouterEvents> {
  /** The router's options with defaults applied. */
  readonly options: ResolvedRouterOptions;
  /** Registry the metrics live on (the injected one, or a private one). */
  readonly registry: Registry;

  readonly #driver: ReplicaDriver<R>;
  readonly #metrics: ReplicaMetrics;
  readonly #route: RouteConfig;
  readonly #states: ReplicaState[];
  readonly #views: ReplicaView[];
  readonly #byName = new Map<string, ReplicaState>();
  readonly #context = new AsyncLocalStorage<Context<R>>();
  readonly #classified = new Map<string, StatementClass>();
  readonly #unsubscribe: () => void;
  #primaryReads = 0;
  #writes = 0;
  #fallbackReads = 0;
  readonly #covers: (replayed: string, write: string) => boolean;
  /** Whether a replica has a session's write (ReplicaDriver.hasWrite, else covers). */
  readonly #hasWrite: (replayed: string, write: string) => boolean;
  #tieBreak = 0;
  #fallbackActive = false;
  /** Whether the last probe round reached the primary; a replica's lag means something only then. */
  #primaryReachable = true;
  /**
   * Why the primary takes no writes (the probe's error, naming the host), while the last round that
   * reached it found it in recovery or read_only; null while it takes writes.
   */
  #primaryReadOnly: ReplicaError | null = null;
  /**
   * The server the last round that reached the primary found writable there, and its position then
   * (see primary-identity.ts); null before any.
   */
  #primarySighting: PrimarySighting | null = null;
  /**
   * The number of the last round started before a write found another server behind the primary's
   * address: such a round may have read the server the address left, which is not a change back.
   */
  #replacedBefore = 0;
  /**
   * Counts the primary's changes the router saw (role changed either way, another server found behind
   * the address, reachable again as another server or with its history rewound), and
   * `#primaryChangedAt` is when it last saw one: a session write sent in an older epoch has a
   * position on the old primary's timeline (LSN) or GTID domain/server, which says nothing about a
   * replica of the new one (see comparableWrite).
   */
  #primaryEpoch = 0;
  /** Counts the primary's role changes only: each retires the connections opened before it. */
  #primaryRoles = 0;
  #primaryChangedAt = Number.NEGATIVE_INFINITY;
  /** Probe rounds started so far; each round knows its number. */
  #rounds = 0;
  /**
   * The number of the last round started before a write found the primary read-only: a round that
   * started by then read the role before the refusal, so its "writable" does not count.
   */
  #refusedBefore = 0;
  #started: Promise<void> | null = null;
  #closed: Promise<void> | null = null;
  #probing: Promise<void> | null = null;
  /** Replicas a statement just failed on as if unreachable, for the next probe round to recheck. */
  readonly #rechecks = new Set<string>();
  /** The round asked for between the scheduled ones, until it begins (see #probeSoon). */
  #onDemand: Promise<void> | null = null;
  /** When the last round began, on the monotonic clock: rounds asked for wait recheckGap after it. */
  #lastRoundAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | null = null;

  constructor(driver: ReplicaDriver<R>, options: ReplicaRouterOptions = {}) {
    super();
    this.options = resolveRouterOptions(options);
    const names = driver.replicaNames;
    if (names.includes(PRIMARY))
      throw new ReplicaError('REPLICA_INVALID_ARGUMENT', 'a replica may not be named "primary"');
    if (new Set(names).size !== names.length)
      throw new ReplicaError('REPLICA_INVALID_ARGUMENT', 'replica names must be unique');
    this.#driver = driver;
    driver.attach((error) => this.#report(error));
    this.#covers = driver.covers.bind(driver);
    this.#hasWrite = driver.hasWrite?.bind(driver) ?? this.#covers;
    this.registry = this.options.registry ?? new Registry();
    this.#metrics = createReplicaMetrics(this.registry);
    const router = this.options.name;
    const ryw = this.options.readYourWrites;
    this.#route = {
      fallback: this.options.fallback,
      readYourWrites: ryw.mode,
      writeWindow: ryw.window,
      verifyReplay: ryw.verify,
      staleAfter: this.options.staleAfter,
      lagTolerance: this.options.lagTolerance,
    };
    this.#states = names.map((name) => ({
      view: {
        name,
        eligible: false,
        lag: null,
        inFlight: 0,
        position: null,
        probedAt: Number.NEGATIVE_INFINITY,
      },
      health: initialReplicaHealth,
      source: 'none',
      reads: 0,
      lost: new LostSignal(),
    }));
    this.#views = this.#states.map((s) => s.view);
    for (const state of this.#states) {
      this.#byName.set(state.view.name, state);
      this.#metrics.eligible.set({ router, replica: state.view.name }, 0);
      this.#metrics.roleMismatch.set({ router, target: state.view.name }, 0);
    }
    this.#metrics.roleMismatch.set({ router, target: PRIMARY }, 0);
    this.#metrics.fallbackActive.set({ router }, 0);
    this.#unsubscribe = this.#metrics.onCollect(() => this.#flushCounts());
  }

  /** start prepares the driver, runs a first probe round and keeps probing. Safe to call twice. */
  start(): Promise<void> {
    this.#started ??= (async () => {
      try {
        await this.#driver.prepare();
      } catch (error) {
        this.#report(new ReplicaError('REPLICA_PROBE', 'preparing the driver failed', { cause: error }));
      }
      await this.probeNow();
      this.#schedule();
    })();
    return this.#started;
  }

  /**
   * #removeGauges takes this router's lag, eligible and fallback_active series off the registry: they
   * describe a router that runs (role_mismatch too). Left there, a closed router read fallback_active 1 (the series the
   * README says to alert on) for the life of the process. The counters stay: totals of what it did.
   */
  #removeGauges(): void {
    const router = this.options.name;
    for (const state of this.#states) {
      this.#metrics.lag.remove({ router, replica: state.view.name });
      this.#metrics.eligible.remove({ router, replica: state.view.name });
      this.#metrics.roleMismatch.remove({ router, target: state.view.name });
    }
    this.#metrics.roleMismatch.remove({ router, target: PRIMARY });
    this.#metrics.fallbackActive.remove({ router });
  }

  /**
   * close stops probing and refuses further statements; the pools stay the caller's. Safe to call
   * twice. Its gauges leave the registry (see #removeGauges).
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      if (this.#timer !== null) clearTimeout(this.#timer);
      this.#timer = null;
      await this.#started?.catch(() => undefined);
      await this.#probing;
      await this.#driver.close();
      this.#flushCounts();
      this.#unsubscribe();
      this.#removeGauges();
    })();
    return this.#closed;
  }

  /**
   * query routes by statement: reads to a fresh replica, everything else to the primary. A statement
   * is SQL text or the client library's query config object (pg `{ text, values, rowMode }`, mysql2
   * `{ sql, values }`), routed by its SQL and handed to the pool as given.
   */
  query(statement: Statement, params?: readonly unknown[]): Promise<R> {
    return this.#dispatch(statement, params, 'classify');
  }

  /** read sends a statement the caller knows to be a read to a replica, whatever it looks like. */
  read(statement: Statement, params?: readonly unknown[]): Promise<R> {
    return this.#dispatch(statement, params, 'read');
  }

  /** write sends a statement to the primary and, inside a session, remembers it for read-your-writes. */
  write(statement: Statement, params?: readonly unknown[]): Promise<R> {
    return this.#dispatch(statement, params, 'write');
  }

  #dispatch(statement: Statement, params: readonly unknown[] | undefined, intent: Intent): Promise<R> {
    const context = this.#context.getStore();
    const tx = openTransaction(context);
    if (tx) return tx.query(statement, params);
    let sql: string | null;
    try {
      sql = statementText(statement, this.#driver.dialect);
    } catch (error) {
      return Promise.reject(error);
    }
    const verdict = sql === null ? STREAMED : this.classify(sql);
    if (sql !== null && verdict.reason === 'TransactionControl') return transactionOutsideTransaction(sql);
    if (sql !== null && verdict.reason === 'SessionState') return sessionStateOutsideTransaction(sql);
    const read = intent === 'read' || (intent === 'classify' && verdict.readOnly);
    return read ? this.#read(statement, params, context) : this.#write(statement, params, context);
  }

  /**
   * transaction runs `fn` in one primary transaction; `db.query`/`read`/`write` inside it use the same
   * connection too. A nested call joins the outer transaction. With `{ readOnly: true }` it is a
   * read-only snapshot (REPEATABLE READ) on a replica chosen as a read is, else on the primary.
   * What `fn` throws comes out as thrown; a failed statement is the DatabaseError `db.query` gives.
   */
  async transaction<T>(fn: (tx: Queryable<R>) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const context = this.#context.getStore();
    const open = openTransaction(context);
    if (open) return fn(open);
    this.#assertOpen();
    const session = context?.session ?? null;
    if (options.readOnly === true) return this.#readTransaction(fn, session);
    await this.#primaryWritableNow();
    this.#writes++;
    const epoch = this.#primaryEpoch;
    const result = await this.#runTransaction(fn, session, PRIMARY, false);
    if (session !== null) await this.#recordWrite(session, epoch);
    return result;
  }

  /**
   * readTransaction runs a read-only transaction where a read would go. A replica that fails before
   * `fn` began (checkout, BEGIN) is left for the next choice, as a read is retried; once `fn` began,
   * nothing is run twice: it may have done more than read the database.
   */
  async #readTransaction<T>(fn: (tx: Queryable<R>) => Promise<T>, session: Session | null): Promise<T> {
    const write = this.#sessionWrite(session);
    let decision = this.#chooseRead(write);
    for (let mayRetry = true; ; mayRetry = false) {
      if (decision.target === 'fail') {
        this.#metrics.fallbacks.inc({ router: this.options.name, action: 'fail' });
        throw new NoEligibleReplicaError();
      }
      const state = decision.target === 'replica' ? this.#byName.get(decision.replica.name)! : null;
      const onReplica =
        decision.target === 'replica' &&
        state !== null &&
        (!decision.verify || (await this.#verify(state, write!.position!)));
      if (!onReplica || state === null) {
        if (decision.target === 'primary' && decision.fallback) this.#fallbackReads++;
        this.#primaryReads++;
        return this.#runTransaction(fn, session, PRIMARY, true);
      }
      state.view.inFlight++;
      state.reads++;
      try {
        return await this.#runTransaction(fn, session, state.view.name, true, state.lost);
      } catch (error) {
        const failure = error instanceof TransactionNotBegun ? error.failure : null;
        if (failure === null) throw error;
        if (!mayRetry || !this.options.retryReads || !this.#driver.isRetryableRead(failure)) throw failure;
        if (failure.code === 'REPLICA_CONNECTION') this.#recheck(state.view.name);
        const next = this.#chooseRead(write, state.view);
        decision =
          next.target === 'fail' ? { target: 'primary', reason: 'FallbackPrimary', fallback: true } : next;
        const elsewhere = decision.target === 'replica' ? decision.replica.name : PRIMARY;
        this.#metrics.retries.inc({ router: this.options.name, replica: state.view.name });
        this.#decide({
          kind: 'ReadRetried',
          replica: state.view.name,
          reasons: [failure.code, elsewhere],
          message: `read-only transaction could not begin on ${state.view.name} (${failure.message}); begun on ${elsewhere}`,
        });
      } finally {
        state.view.inFlight--;
      }
    }
  }

  /**
   * runTransaction runs `fn` in a transaction on `target`. On a replica, `lost` stops each statement
   * waiting once the probe finds the replica unreachable. A failure before `fn` began comes out
   * wrapped in TransactionNotBegun (on a replica only), so that it can be begun elsewhere.
   */
  async #runTransaction<T>(
    fn: (tx: Queryable<R>) => Promise<T>,
    session: Session | null,
    target: string,
    readOnly: boolean,
    lost?: LostSignal,
  ): Promise<T> {
    const normalize = (error: unknown) => {
      const failure = this.#driver.normalizeError(error, target);
      if (!readOnly) this.#noticeRefusal(failure);
      return failure;
    };
    let began = false;
    let thrownByFn: unknown = NOTHING_THROWN;
    const retired = readOnly ? () => null : this.#retiredSince(this.#primaryRoles);
    // Every statement on a replica, BEGIN to COMMIT or ROLLBACK, stops waiting once the probe finds it
    // unreachable (each failed probe round says so again, so a ROLLBACK sent after that is bounded too).
    const guard = lost === undefined ? undefined : <S>(statement: Promise<S>) => lost.race(statement);
    let handle: TransactionHandle<R> | null = null;
    // A connection whose session the transaction changed (a role, search_path, sql_mode …) is closed,
    // not pooled. Before, it went back as it was, and every later statement of every caller that took
    // it ran so: one transaction's SET ROLE and search_path stayed on the primary's pooled connection.
    const discard = () => handle?.changedSession === true;
    try {
      return await this.#driver.transaction(
        async (driverTx) => {
          began = true;
          const tx = new TransactionHandle(driverTx, normalize, retired, (statement) =>
            this.classify(statement),
          );
          handle = tx;
          try {
            const result = await this.#context.run({ session, tx }, () => fn(tx));
            // Thrown here, the driver rolls back instead of committing on a connection the role change retired.
            const refused = retired();
            if (refused !== null) throw refused;
            return result;
          } catch (error) {
            thrownByFn = error;
            throw error;
          } finally {
            tx.ended = true;
          }
        },
        { target, readOnly, guard, discard },
      );
    } catch (error) {
      // The caller's own error (a validation failure, say) is theirs to catch as they threw it.
      if (error === thrownByFn) throw error;
      const failure = error instanceof ReplicaError ? error : normalize(error);
      if (!began && target !== PRIMARY && failure instanceof DatabaseError)
        throw new TransactionNotBegun(failure);
      throw failure;
    }
  }

  /**
   * session runs `fn` as one read-your-writes session (a request, say): once it writes, its reads see
   * the write. Nested calls join the outer session.
   */
  session<T>(fn: () => Promise<T>): Promise<T> {
    const context = this.#context.getStore();
    if (context?.session) return fn();
    return this.#context.run({ session: { write: null, epoch: 0 }, tx: openTransaction(context) }, fn);
  }

  /** classify tells where `query` would send a statement, and why (cached per SQL string). */
  classify(statement: Statement): StatementClass {
    const sql = statementText(statement, this.#driver.dialect);
    if (sql === null) return STREAMED;
    let verdict = this.#classified.get(sql);
    if (verdict === undefined) {
      verdict = classifyStatement(sql, this.#driver.dialect);
      // FIFO is enough: applications use a bounded set of SQL strings; this only stops unbounded growth.
      if (this.#classified.size >= this.options.classifyCacheSize) {
        const oldest = this.#classified.keys().next();
        if (!oldest.done) this.#classified.delete(oldest.value);
      }
      if (this.options.classifyCacheSize > 0) this.#classified.set(sql, verdict);
    }
    return verdict;
  }

  /** status is every replica as the router sees it now. */
  status(): ReplicaStatus[] {
    return this.#states.map((s) => this.#statusOf(s));
  }

  /** probeNow runs a probe round at once (or joins the one running). */
  probeNow(): Promise<void> {
    this.#probing ??= this.#probe().finally(() => {
      this.#probing = null;
    });
    return this.#probing;
  }

  #assertOpen(): void {
    if (this.#closed !== null) throw new ReplicaError('REPLICA_CLOSED', 'the router is closed');
  }

  /**
   * assertPrimaryWritable refuses a write while the last probe round that reached the primary found it
   * taking none (a standby after a failover, read_only during a switchover), as ProxySQL keeps writes
   * off a server with read_only set. Sent anyway, a write failed with the server's own words (25006
   * "cannot execute INSERT in a read-only transaction", 1290) that named no host, and on MySQL/MariaDB
   * one by a user read_only does not bind (SUPER, READ_ONLY ADMIN) committed on the standby: an
   * errant transaction there, which the real primary never has.
   */
  #assertPrimaryWritable(): void {
    if (this.#primaryReadOnly === null) return;
    throw new PrimaryReadOnlyError(`write refused, never sent: ${this.#primaryReadOnly.message}`);
  }

  /**
   * primaryWritableNow lets a write through at once while the primary takes writes; while the last
   * round found it taking none, it asks again first, in a round that starts after it arrived (after
   * the one under way, which may have read the role before the change, and at most `recheckGap`
   * after the last one began: see #probeSoon), and refuses the write only if that round
   * finds it read-only still. The primary's address may lead to a new server since (a virtual IP or a
   * DNS name moved by a failover, read_only turned OFF at the end of a switchover): before, writes
   * were refused until the next scheduled round, up to `probeInterval` after the new primary took
   * them, where ProxySQL moves its writer as soon as its read_only check sees the change. Writes
   * arriving together share one round; nothing is sent before a round found the server writable.
   */
  async #primaryWritableNow(): Promise<void> {
    if (this.#primaryReadOnly === null) return;
    // A round that fails is reported by the round itself; the write is then judged as it stands.
    // probeSoon waits for the round under way first, and spaces the rounds writes ask for.
    for (let round = 0; round < 2 && this.#closed === null && this.#primaryReadOnly !== null; round++) {
      await this.#probeSoon().catch(() => undefined);
      // Reached and still read-only: refused. Not reached: the address that moved also cut the probe's
      // connection to the old server (dropped by that round), so one more round connects afresh.
      if (this.#primaryReachable) break;
    }
    this.#assertOpen();
    this.#assertPrimaryWritable();
  }

  async #write(
    statement: Statement,
    params: readonly unknown[] | undefined,
    context: Context<R> | undefined,
  ): Promise<R> {
    this.#assertOpen();
    await this.#primaryWritableNow();
    this.#writes++;
    // Taken before the write is sent: a primary change while it runs makes its position incomparable.
    const epoch = this.#primaryEpoch;
    const result = await this.#queryPrimary(statement, params, true);
    if (context?.session) await this.#recordWrite(context.session, epoch);
    return result;
  }

  /**
   * retiredSince refuses a primary transaction's statements, and its COMMIT, once the primary's role
   * changed after it began (`roles`: the count then). Its connection was checked out before: it
   * leads to the server that was demoted, or that the primary's address has left; the drain on the
   * role change retires pooled connections only when next checked out, and a transaction holds its
   * own until it ends. Before, its statements and COMMIT went on there: refused (25006, 1290) at
   * best, committed on the old server by a user read_only does not bind, or on an old primary still
   * writable behind a moved address: a write the new primary never has. Now it is rolled back and
   * the caller gets PrimaryReadOnlyError; nothing is run again (`fn` may have done more than SQL).
   */
  #retiredSince(roles: number): () => ReplicaError | null {
    return () =>
      this.#primaryRoles === roles
        ? null
        : new PrimaryReadOnlyError(
            `the primary's role changed while this transaction ran (${
              this.#primaryReadOnly?.message ??
              'read-only, then writable again: its address may lead to another server'
            }); its connection is retired, so the transaction is rolled back, never committed`,
          );
  }

  /**
   * noticeRefusal acts on a write the primary refused because it is read-only (1290, 25006): demoted,
   * or being failed over, since the last probe round. Before, the router learnt it only at the next
   * scheduled round, and every write until then was sent there too (each refused, or committed by a
   * user read_only does not bind). Now the primary counts as read-only at once (`PrimaryReadOnly`,
   * reason `WriteRefused`), so the next write waits for a round on a fresh probe connection (where the
   * primary's address leads now) and is sent only if that finds a writable server; the pool's
   * connections open now are retired (they lead to the server that refused).
   */
  #noticeRefusal(failure: DatabaseError): void {
    if (failure.target !== PRIMARY || !this.#driver.refusedAsWrite(failure) || this.#closed !== null) return;
    this.#refusedBefore = this.#rounds;
    if (this.#primaryReadOnly === null)
      this.#primaryRoleTransition(
        new ReplicaError(
          'REPLICA_PRIMARY_READ_ONLY',
          `the primary refused a write as read-only (${failure.message}); writes are refused until a probe round finds it writable`,
        ),
        'WriteRefused',
      );
    this.#recheck(PRIMARY);
  }

  async #recordWrite(session: Session, epoch: number): Promise<void> {
    const mode = this.options.readYourWrites.mode;
    if (mode === 'off') return;
    const at = this.options.clock.now();
    let position: string | null = null;
    if (mode === 'replayed') {
      try {
        const written = await this.#driver.writePosition();
        position = written.position;
        // Read with the position on the write's pool: another server than the last round's is a
        // failover no round has seen yet (the address moved between two rounds). Compared with the
        // old primary's position, the write's could make a replica that lacks it look caught up.
        // Only the server is compared: a round under way may have read a later position than this.
        const landed: PrimarySighting = { server: written.server, position: null };
        if (this.#closed === null && otherPrimary(this.#primarySighting, landed, this.#covers)) {
          this.#replacedBefore = this.#rounds;
          this.#primaryReplaced({ server: written.server, position: written.position }, 'WriteLanded');
          // On a new probe connection: the one kept may still lead to the server the address left.
          this.#recheck(PRIMARY);
        }
      } catch (error) {
        // Without a position the session's reads go to the primary, which is always fresh.
        this.#report(this.#driver.normalizeError(error, PRIMARY));
      }
    }
    session.write = { position, at };
    session.epoch = epoch;
  }

  /** sessionWrite is the session's last write as read routing may compare it now (see comparableWrite). */
  #sessionWrite(session: Session | null | undefined): SessionWrite | null {
    if (!session) return null;
    return comparableWrite(
      session.write,
      session.epoch,
      this.#primaryEpoch,
      this.#primaryChangedAt,
      this.options.clock.now(),
      // Long enough for a replica within maxLag of the new primary to have what it had when seen.
      Math.max(this.options.readYourWrites.window, this.options.maxLag),
    );
  }

  async #read(
    statement: Statement,
    params: readonly unknown[] | undefined,
    context: Context<R> | undefined,
  ): Promise<R> {
    this.#assertOpen();
    const write = this.#sessionWrite(context?.session);
    try {
      return await this.#serve(this.#chooseRead(write), statement, params, write, true);
    } catch (error) {
      if (!this.#refusedAsWrite(error, statement)) throw error;
      return this.#write(statement, params, context);
    }
  }

  /**
   * refusedAsWrite tells whether a replica refused what classification took for a read because it
   * writes (a function with side effects the SQL text cannot show), and if so learns the statement as
   * a write. The replica ran none of it, so running it on the primary once is no retry.
   */
  #refusedAsWrite(error: unknown, statement: Statement): boolean {
    if (!(error instanceof DatabaseError) || error.target === PRIMARY) return false;
    if (!this.#driver.refusedAsWrite(error) || !this.classify(statement).readOnly) return false;
    this.#classified.set(statementText(statement, this.#driver.dialect) as string, {
      readOnly: false,
      reason: 'RefusedByReplica',
    });
    this.#decide({
      kind: 'ReadRefusedAsWrite',
      replica: error.target,
      reasons: ['RefusedByReplica', error.driverCode ?? error.sqlState ?? 'unknown'],
      message: `${error.target} refused a read because it writes (${error.message}); it runs on the primary, now and from now on`,
    });
    return true;
  }

  /**
   * chooseRead asks the pure chooser where a read goes now, optionally never to `exclude` (the
   * replica a retried read just failed on); every call takes the next tie-break turn.
   */
  #chooseRead(write: SessionWrite | null, exclude?: ReplicaView): ReadDecision {
    const decision = chooseRead(
      this.#views,
      write,
      this.#route,
      this.options.clock.now(),
      this.#hasWrite,
      this.#tieBreak++,
      exclude,
    );
    // Samples go stale between rounds, not in one: the first read that falls back for it says why.
    const fellBack = decision.target === 'fail' || (decision.target === 'primary' && decision.fallback);
    if (fellBack && exclude === undefined && !this.#fallbackActive) this.#updateFallback();
    return decision;
  }

  async #serve(
    decision: ReadDecision,
    statement: Statement,
    params: readonly unknown[] | undefined,
    write: SessionWrite | null,
    mayRetry: boolean,
  ): Promise<R> {
    if (decision.target === 'fail') {
      this.#metrics.fallbacks.inc({ router: this.options.name, action: 'fail' });
      throw new NoEligibleReplicaError();
    }
    if (decision.target === 'primary') {
      if (decision.fallback) this.#fallbackReads++;
      return this.#onPrimary(statement, params);
    }
    const state = this.#byName.get(decision.replica.name)!;
    if (decision.verify && !(await this.#verify(state, write!.position!)))
      return this.#onPrimary(statement, params);

    state.view.inFlight++;
    state.reads++;
    let failure: DatabaseError;
    try {
      // Every statement stops waiting for a replica found unreachable meanwhile: a read retries below,
      // anything else fails with REPLICA_CONNECTION rather than hang for as long as the server is frozen.
      return await state.lost.race(this.#driver.query(state.view.name, statement, params));
    } catch (error) {
      failure = this.#driver.normalizeError(error, state.view.name);
    } finally {
      state.view.inFlight--;
    }
    // db.read() may carry anything; only what is provably a read may run a second time.
    if (
      !mayRetry ||
      !this.options.retryReads ||
      !this.#driver.isRetryableRead(failure) ||
      !this.classify(statement).readOnly
    )
      throw failure;
    if (failure.code === 'REPLICA_CONNECTION') this.#recheck(state.view.name);
    const next = this.#chooseRead(write, state.view);
    // A retry must not fail where the first try would have fallen back: reads stay served.
    const retry: ReadDecision =
      next.target === 'fail' ? { target: 'primary', reason: 'FallbackPrimary', fallback: true } : next;
    this.#metrics.retries.inc({ router: this.options.name, replica: state.view.name });
    this.#decide({
      kind: 'ReadRetried',
      replica: state.view.name,
      reasons: [failure.code, retry.target === 'replica' ? retry.replica.name : PRIMARY],
      message: `read failed on ${state.view.name} (${failure.message}); retried on ${
        retry.target === 'replica' ? retry.replica.name : PRIMARY
      }`,
    });
    return this.#serve(retry, statement, params, write, false);
  }

  async #onPrimary(statement: Statement, params: readonly unknown[] | undefined): Promise<R> {
    this.#primaryReads++;
    return this.#queryPrimary(statement, params);
  }

  /** queryPrimary runs one statement on the primary; a failure comes back as the driver's DatabaseError. */
  async #queryPrimary(
    statement: Statement,
    params: readonly unknown[] | undefined,
    write = false,
  ): Promise<R> {
    try {
      return await this.#driver.query(PRIMARY, statement, params, write);
    } catch (error) {
      const failure = this.#driver.normalizeError(error, PRIMARY);
      if (write) this.#noticeRefusal(failure);
      throw failure;
    }
  }

  async #verify(state: ReplicaState, position: string): Promise<boolean> {
    state.view.inFlight++;
    try {
      const answer = await state.lost.race(
        this.#driver.checkReplayed(state.view.name, position, this.options.readYourWrites.waitTimeout),
      );
      if (
        answer.position !== null &&
        (state.view.position === null || !this.#covers(state.view.position, answer.position))
      )
        state.view.position = answer.position;
      return answer.replayed;
    } catch (error) {
      const failure = this.#driver.normalizeError(error, state.view.name);
      if (failure.code === 'REPLICA_CONNECTION') this.#recheck(state.view.name);
      return false;
    } finally {
      state.view.inFlight--;
    }
  }

  #lostError(replica: string, cause: ReplicaError | undefined): DatabaseError {
    const details = cause instanceof DatabaseError ? cause : undefined;
    return new DatabaseError(
      'REPLICA_CONNECTION',
      `${replica}: unreachable by the probe (${cause?.message ?? 'no answer'}); statements sent there were abandoned, and may still run if it answers`,
      {
        target: replica,
        sqlState: details?.sqlState,
        driverCode: details?.driverCode,
        errno: details?.errno,
      },
      cause,
    );
  }

  /**
   * recheck asks the probe, on its own connection, whether a replica a statement just failed on as if
   * it were unreachable really is: a round now, or right after the one under way (which may have
   * started before the failure). The probe excludes it and abandons the reads waiting there if so.
   * The failure alone decided that before, but the pool reports more than the server's fate: a
   * checkout that timed out because every pooled connection was busy (pg `connectionTimeoutMillis`),
   * a client-side query timeout, a type parser that threw. A busy replica was then excluded for
   * `holdTime` and the reads running there were run again on the primary.
   */
  #recheck(replica: string): void {
    if (this.#closed !== null) return;
    this.#rechecks.add(replica);
    this.#probeSoon().catch((error: unknown) =>
      this.#report(new ReplicaError('REPLICA_PROBE', 'probe round failed', { cause: error })),
    );
  }

  /**
   * probeSoon runs a round asked for between the scheduled ones (a recheck, a write waiting for a
   * read-only primary): after the one under way, which may have read the servers before the caller's
   * reason, and no sooner than `recheckGap` after the last round began. Callers until it begins share
   * it. Before, each asked for a round of its own as soon as the last ended: a replica pool too busy
   * to hand out a connection in time (every read failing its checkout while the server was fine), or
   * a standby left configured as the primary under a steady flow of writes, kept rounds running back
   * to back, each on a new probe connection (a new backend on PostgreSQL) and, on MariaDB/MySQL, a
   * heartbeat written to the primary's binlog: with probeInterval 60 s, 18 rounds in 2.1 s for reads
   * timing out their checkout on a healthy replica, 16 in 1 s with a mysql2 pool that does not wait
   * (`recheck-storm.test.ts`).
   */
  #probeSoon(): Promise<void> {
    this.#onDemand ??= (async () => {
      await this.#probing?.catch(() => undefined);
      const wait = this.#lastRoundAt + this.options.recheckGap - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      // Whoever asks from here on asks after this round began reading: they need the next one.
      this.#onDemand = null;
      if (this.#closed !== null) return;
      // On a fresh connection: the probe's own, opened before, stays logged in after the replica
      // began refusing the login (a password rotated there, a role dropped), so the replica stayed
      // eligible and every read that needed a new pooled connection there paid a refused login and
      // a retry. Dropped here, between rounds, never under a query the round under way is waiting on.
      for (const name of this.#rechecks) this.#driver.renewProbe(name);
      this.#rechecks.clear();
      await this.probeNow();
    })();
    return this.#onDemand;
  }

  async #probe(): Promise<void> {
    const number = ++this.#rounds;
    this.#lastRoundAt = performance.now();
    // While the primary takes no writes, each round reads its role on a new connection, which goes
    // where the primary's address leads now: the one kept stays on the old server as long as that
    // runs (demoted, its sessions kept), and a write waiting for the new primary was refused for good.
    if (this.#primaryReadOnly !== null) this.#driver.renewProbe(PRIMARY);
    const startedAt = this.options.clock.now();
    let round: Awaited<ReturnType<ReplicaDriver<R>['probe']>>;
    try {
      round = await this.#driver.probe(startedAt, this.options.probeTimeout);
    } catch (error) {
      this.#report(new ReplicaError('REPLICA_PROBE', 'probe round failed', { cause: error }));
      return;
    }
    const now = this.options.clock.now();
    const router = this.options.name;
    const errors: ProbeReport['errors'] = [];
    if (round.primary.error) errors.push({ target: PRIMARY, error: round.primary.error });
    const primaryReachable = round.primary.reachable;
    // A primary out of connection slots is up and commits other clients' writes: replicas may fall
    // behind it, so their lag, measured from their side (the age of what they replayed), still
    // counts. Before, they kept reads unbounded by maxLag, as for a primary nobody reaches.
    const lagCounts = primaryReachable || round.primary.up === true;
    // Restored before the replicas' verdicts, which are measured against it again; lost after them,
    // which the decision lists.
    if (primaryReachable) {
      // Which server takes the writes counts only while it takes them: a standby's is no primary's.
      const writable = round.primary.readOnly !== true;
      const sighting: PrimarySighting = {
        server: round.primary.server ?? null,
        position: round.primary.position,
      };
      // A round started before a write found another server may have read the one the address left.
      const current = number > this.#replacedBefore;
      const restored = !this.#primaryReachable;
      this.#primaryTransition(true, undefined, false, writable && current ? sighting : undefined);
      const readOnly = round.primary.readOnly === true ? (round.primary.error ?? null) : null;
      const wasReadOnly = this.#primaryReadOnly !== null;
      // Writable by a reading taken before a write was refused as read-only: that refusal is newer.
      if (readOnly !== null || number > this.#refusedBefore) this.#primaryRoleTransition(readOnly, 'Probe');
      if (writable && current) {
        // Between two rounds that both found it writable, with nothing else seen: the address moved
        // (a failover between rounds), or a promoted replica took over behind a proxy that kept the
        // probe's connection. Restored and role changes already counted as a change of primary.
        if (!restored && !wasReadOnly && otherPrimary(this.#primarySighting, sighting, this.#covers))
          this.#primaryReplaced(sighting, 'Probe');
        this.#primarySighting = sighting;
      }
    }
    for (const sample of round.replicas) {
      const state = this.#byName.get(sample.name);
      if (state === undefined) continue;
      if (sample.error) errors.push({ target: sample.name, error: sample.error });
      const previous = state.health;
      const next = lagCounts
        ? evaluateReplica(previous, sample, this.options, now)
        : evaluateWithoutPrimary(previous, sample);
      state.health = next;
      state.source = sample.source;
      state.view.lag = sample.lag;
      if (sample.position !== null) state.view.position = sample.position;
      state.view.eligible = next.eligible;
      state.view.probedAt = now;
      const labels = { router, replica: sample.name };
      if (sample.lag === null) this.#metrics.lag.remove(labels);
      else this.#metrics.lag.set(labels, sample.lag / 1000);
      this.#metrics.eligible.set(labels, next.eligible ? 1 : 0);
      this.#metrics.roleMismatch.set({ router, target: sample.name }, sample.writable === true ? 1 : 0);
      this.#transition(state, previous, next, sample.error);
      if (next.reason === 'Unreachable') state.lost.lose(this.#lostError(sample.name, sample.error));
    }
    if (!primaryReachable) this.#primaryTransition(false, round.primary.error, round.primary.up === true);
    this.#updateFallback();
    this.emit('probe', {
      router,
      at: now,
      primaryReachable: round.primary.reachable,
      primaryReadOnly: this.#primaryReadOnly !== null,
      replicas: this.status(),
      errors,
    });
  }

  #transition(state: ReplicaState, previous: ReplicaHealth, next: ReplicaHealth, error?: ReplicaError): void {
    const replica = state.view.name;
    const lag = state.view.lag;
    // Reported when found, eligible before or not (never admitted, at start): a misconfiguration that
    // needs a person, which LagUnknown alone did not tell.
    if (next.reason === 'Writable' && previous.reason !== 'Writable') {
      this.#decide({
        kind: 'ReplicaExcluded',
        replica,
        reasons: error ? [next.reason, error.code] : [next.reason],
        lag,
        message: `${replica} excluded from reads: ${error?.message ?? 'it takes writes'}`,
      });
      if (error) this.#report(error);
      return;
    }
    if (previous.eligible && !next.eligible) {
      this.#decide({
        kind: 'ReplicaExcluded',
        replica,
        reasons: error ? [next.reason, error.code] : [next.reason],
        lag,
        message: `${replica} excluded from reads: ${next.reason}${lag === null ? '' : ` (lag ${lag} ms)`}`,
      });
    } else if (!previous.eligible && next.eligible) {
      const admitted = previous.reason === 'NotProbed';
      this.#decide({
        kind: admitted ? 'ReplicaAdmitted' : 'ReplicaRestored',
        replica,
        reasons: [next.reason],
        lag,
        message: `${replica} ${admitted ? 'admitted' : 'restored'} for reads (lag ${lag} ms)`,
      });
    }
  }

  /**
   * primaryRoleTransition reports the primary found taking no writes (`readOnly`: the probe's error,
   * naming the host), and taking them again. Reads are unchanged: replicas' lag is measured from their
   * side, and with none eligible reads go to the primary, which serves them as the standby it is.
   */
  #primaryRoleTransition(readOnly: ReplicaError | null, why: 'Probe' | 'WriteRefused'): void {
    const was = this.#primaryReadOnly;
    this.#primaryReadOnly = readOnly;
    if ((was === null) === (readOnly === null)) return;
    this.#primaryChanged();
    this.#primaryRoles++;
    // Either way the server behind the primary's address may have changed (demoted, or the address
    // moved to the new primary): connections the pool opened before lead to the old one.
    this.#driver.drain(PRIMARY);
    this.#metrics.roleMismatch.set({ router: this.options.name, target: PRIMARY }, readOnly === null ? 0 : 1);
    if (readOnly !== null) {
      this.#decide({
        kind: 'PrimaryReadOnly',
        reasons:
          why === 'Probe' ? ['PrimaryReadOnly', readOnly.code] : ['PrimaryReadOnly', why, readOnly.code],
        message: `${readOnly.message}; reads go on (replica lag measured from their side)`,
      });
      return;
    }
    this.#decide({
      kind: 'PrimaryWritable',
      reasons: ['PrimaryWritable'],
      message:
        'the primary takes writes again; writes are sent to it, on connections opened from now on (older ones are dropped when next taken)',
    });
  }

  #primaryChanged(): void {
    this.#primaryEpoch++;
    this.#primaryChangedAt = this.options.clock.now();
  }

  /**
   * retirePrimaryConnections: connections the primary's pool opened before, and transactions open on
   * them, lead to the server the address left (see #retiredSince and PoolGenerations).
   */
  #retirePrimaryConnections(): void {
    this.#primaryRoles++;
    this.#driver.drain(PRIMARY);
  }

  /**
   * primaryReplaced acts on another server found behind the primary's address with no round seeing
   * it go (see #probe and #recordWrite): a change of primary, as a role change is.
   */
  #primaryReplaced(now: PrimarySighting, why: 'Probe' | 'WriteLanded'): void {
    const before = this.#primarySighting?.server ?? null;
    this.#primarySighting = now;
    this.#primaryChanged();
    this.#retirePrimaryConnections();
    this.#decide({
      kind: 'PrimaryReplaced',
      reasons: ['PrimaryReplaced', why],
      message: `${
        why === 'Probe' ? 'the probe found' : 'a write landed on'
      } another server behind the primary's address (${before} before, ${now.server} now${
        before === now.server ? ', its history rewound' : ''
      }): sessions' earlier write positions are not compared with replicas, connections opened before are retired`,
    });
  }

  /**
   * primaryTransition reports the primary becoming unreachable, and reachable again. `sighting` is
   * what the round that reached it found, when it found it writable.
   */
  #primaryTransition(
    reachable: boolean,
    error: ReplicaError | undefined,
    up = false,
    sighting?: PrimarySighting,
  ): void {
    if (reachable === this.#primaryReachable) return;
    this.#primaryReachable = reachable;
    if (reachable) {
      // What answers may be another server now (the address moved while nobody reached it). The same
      // server, its history not rewound (restarted, or a network cut healed), is no change: sessions'
      // write positions are on its history still. Before, any outage counted as a change, and every
      // session that had written read from the primary for max(window, maxLag) (5 s) afterwards.
      const same = sighting !== undefined && samePrimary(this.#primarySighting, sighting, this.#covers);
      const other = sighting !== undefined && otherPrimary(this.#primarySighting, sighting, this.#covers);
      if (!same) this.#primaryChanged();
      if (other) this.#retirePrimaryConnections();
      const server = sighting?.server ?? null;
      this.#decide({
        kind: 'PrimaryRestored',
        reasons: ['PrimaryReachable', same ? 'SameServer' : other ? 'OtherServer' : 'ServerUnknown'],
        message: same
          ? `the primary answers again, the same server (${server}) with its history: replica lag is measured against it again, sessions' write positions still compare`
          : other
            ? `the primary answers again, but another server (${this.#primarySighting?.server} before, ${server} now, or its history rewound): replica lag is measured against it, sessions' earlier write positions are not compared, connections opened before are retired`
            : "the primary answers again; replica lag is measured against it again; which server answers is unknown, so sessions' earlier write positions are not compared",
      });
      return;
    }
    const serving = this.#views.filter((v) => v.eligible).map((v) => v.name);
    if (up) {
      this.#decide({
        kind: 'PrimaryUnreachable',
        reasons: [
          'PrimaryUnreachable',
          'PrimaryUp',
          ...(error ? [error.code] : []),
          ...this.#states.map((s) => `${s.view.name}:${s.health.reason}`),
        ],
        message: `the primary refuses the probe a connection (${error?.message ?? 'no answer'}) but is up and commits others' writes: replicas keep reads only within maxLag, measured from their side`,
      });
      return;
    }
    this.#decide({
      kind: 'PrimaryUnreachable',
      reasons: [
        'PrimaryUnreachable',
        ...(error ? [error.code] : []),
        ...this.#states.map((s) => `${s.view.name}:${s.health.reason}`),
      ],
      message: `the primary is unreachable (${error?.message ?? 'no answer'}); writes fail until it answers; reads ${
        serving.length > 0
          ? `stay on ${serving.join(', ')} (within maxLag when the primary was last reachable, and no write can commit meanwhile)`
          : 'have no replica that was within maxLag when the primary was last reachable'
      }`,
    });
  }

  /**
   * updateFallback says when reads start and stop falling back for want of a replica. A replica
   * counts only while it is eligible and its last sample is younger than staleAfter, as chooseRead
   * sees it: before, stuck probes sent every read to the primary and no decision said why.
   */
  #updateFallback(): void {
    if (this.#states.length === 0) return;
    const now = this.options.clock.now();
    const { staleAfter } = this.options;
    const isStale = (s: ReplicaState) => s.view.eligible && now - s.view.probedAt > staleAfter;
    const active = !this.#states.some((s) => s.view.eligible && !isStale(s));
    if (active === this.#fallbackActive) return;
    this.#fallbackActive = active;
    this.#metrics.fallbackActive.set({ router: this.options.name }, active ? 1 : 0);
    if (!active) {
      this.#decide({
        kind: 'FallbackEnded',
        reasons: ['LagWithinMax'],
        message: 'a replica is eligible again',
      });
      return;
    }
    const reasons = this.#states.map((s) => `${s.view.name}:${isStale(s) ? 'ProbeStale' : s.health.reason}`);
    const stale = this.#states.filter(isStale);
    const why =
      stale.length === 0
        ? 'no replica is eligible'
        : `no replica is eligible with a fresh probe sample (a sample counts for staleAfter, ${staleAfter} ms: ${stale
            .map((s) => `${s.view.name}'s is ${Math.round(now - s.view.probedAt)} ms old`)
            .join(', ')})`;
    this.#decide({
      kind: 'FallbackStarted',
      reasons: ['NoEligibleReplica', ...reasons],
      message: `${why}; reads ${this.options.fallback === 'fail' ? 'fail' : 'go to the primary'}`,
    });
  }

  #decide(decision: Omit<ReplicaDecision, 'router' | 'at'>): void {
    this.emit('decision', { router: this.options.name, at: this.options.clock.now(), ...decision });
  }

  #report(error: ReplicaError): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else this.options.logger?.warn({ err: error }, error.message);
  }

  #schedule(): void {
    if (this.#closed !== null) return;
    this.#timer = setTimeout(() => {
      this.probeNow()
        .catch((error: unknown) =>
          this.#report(new ReplicaError('REPLICA_PROBE', 'probe round failed', { cause: error })),
        )
        .finally(() => this.#schedule());
    }, this.options.probeInterval);
    this.#timer.unref();
  }

  #flushCounts(): void {
    const router = this.options.name;
    for (const state of this.#states) {
      if (state.reads > 0) this.#metrics.reads.inc({ router, target: state.view.name }, state.reads);
      state.reads = 0;
    }
    if (this.#primaryReads > 0) this.#metrics.reads.inc({ router, target: PRIMARY }, this.#primaryReads);
    if (this.#writes > 0) this.#metrics.writes.inc({ router }, this.#writes);
    if (this.#fallbackReads > 0)
      this.#metrics.fallbacks.inc({ router, action: 'primary' }, this.#fallbackReads);
    this.#primaryReads = 0;
    this.#writes = 0;
    this.#fallbackReads = 0;
  }

  #statusOf(state: ReplicaState): ReplicaStatus {
    const { view, health } = state;
    return {
      name: view.name,
      eligible: view.eligible,
      reason: health.reason,
      lag: view.lag,
      source: state.source,
      position: view.position,
      inFlight: view.inFlight,
      probedAt: view.probedAt,
    };
  }
}

/** TransactionOptions: `readOnly` runs the transaction as a read-only snapshot where reads go. */
export interface TransactionOptions {
  readOnly?: boolean;
}

/** Stands for "fn threw nothing" (undefined can be thrown). */
const NOTHING_THROWN = Symbol('nothing thrown');

/** TransactionNotBegun carries a failure from before a transaction's `fn` began: it can be begun elsewhere. */
class TransactionNotBegun extends Error {
  readonly failure: DatabaseError;
  constructor(failure: DatabaseError) {
    super(failure.message);
    this.failure = failure;
  }
}

/** Where a statement goes: as its SQL says, or where the caller says (`db.read`, `db.write`). */
type Intent = 'classify' | 'read' | 'write';

/** A pg cursor or stream (`submit()`) hands back itself, not a promise: it stays on the primary, unretried. */
const STREAMED: StatementClass = { readOnly: false, reason: 'Unknown' };

/**
 * comparableWrite is a session's last write as read routing may use it, given the primary epoch it
 * was sent in. Written in the current epoch: as recorded. Written before the primary changed, its
 * position belongs to the old primary (a PostgreSQL LSN of the old timeline, a MariaDB GTID of the
 * old server's domain/server id): compared with a replica of the new primary it could make one that
 * lacks the write look caught up (a stale read) or one that has it never catch up. Before, it was
 * compared anyway. Now such a write counts as one without a position, taken when the change was
 * seen: reads go to the primary (which has the write, if the failover kept it) for `bound` ms after
 * the change — replicas within maxLag of the new primary have caught up with what it had by then —
 * and as if the session had not written after that. The session's next write starts afresh.
 */
export function comparableWrite(
  write: SessionWrite | null,
  writtenEpoch: number,
  epoch: number,
  changedAt: number,
  now: number,
  bound: number,
): SessionWrite | null {
  if (write === null || writtenEpoch === epoch) return write;
  if (now - changedAt >= bound) return null;
  return { position: null, at: changedAt };
}

/**
 * sessionStateOutsideTransaction refuses SET, USE, LOCK TABLES and the like sent as plain statements:
 * each runs on whichever pooled connection is free and stays there, for every later statement of
 * every caller that takes that connection (a statement_timeout of 1 ms, a role, a search_path), while
 * the caller's own next statements likely run on other connections, or a replica, without it.
 */
function sessionStateOutsideTransaction(sql: string): Promise<never> {
  const statement = sql.trim().split(/\s+/, 2).join(' ');
  return Promise.reject(
    new ReplicaError(
      'REPLICA_INVALID_ARGUMENT',
      `"${statement}" outside db.transaction(fn) would stay on one pooled connection for whoever takes it next; run it in db.transaction(fn) with the statements it is for (PostgreSQL: SET LOCAL), whose connection is closed afterwards if its session changed`,
    ),
  );
}

/**
 * transactionOutsideTransaction refuses BEGIN, COMMIT, SAVEPOINT and the like sent as plain statements:
 * each statement takes whichever pooled connection is free, so a BEGIN leaves one primary connection
 * inside a transaction that later statements of other callers join (or that nobody ever commits),
 * while the reads "in" it run on a replica that cannot see its writes.
 */
function transactionOutsideTransaction(sql: string): Promise<never> {
  const statement = sql.trim().split(/\s+/, 2).join(' ');
  return Promise.reject(
    new ReplicaError(
      'REPLICA_INVALID_ARGUMENT',
      `"${statement}" outside db.transaction(fn) would run on one pooled connection and leave it mid-transaction; run the statements in db.transaction(fn), which keeps them on one primary connection`,
    ),
  );
}

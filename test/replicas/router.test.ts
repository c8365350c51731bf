// The router shell over an in-memory driver: retry, fallback, lifecycle and error reporting, with an
// injected clock. Real databases are in postgres.test.ts and mariadb.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DatabaseError,
  type ProbeRound,
  type Queryable,
  type ReplicaDecision,
  type ReplicaDriver,
  type ReplicaError,
  ReplicaRouter,
  type ReplicaSample,
  type Statement,
  type WrittenAt,
} from '../../src/replicas/index.js';

type Result = { target: string; sql: Statement };

class MemoryDriver implements ReplicaDriver<Result> {
  readonly dialect = 'postgres' as const;
  readonly replicaNames: string[];
  readonly down = new Set<string>();
  /** Targets whose queries never answer, as a frozen server's. */
  readonly frozen = new Set<string>();
  samples: Record<string, Partial<ReplicaSample>> = {};
  probeFails = false;
  report: (error: ReplicaError) => void = () => {};
  readonly served: string[] = [];

  constructor(names: string[]) {
    this.replicaNames = names;
  }
  attach(report: (error: ReplicaError) => void): void {
    this.report = report;
  }
  async prepare(): Promise<void> {}
  async query(target: string, sql: Statement): Promise<Result> {
    if (this.down.has(target)) throw Object.assign(new Error('Connection terminated unexpectedly'), {});
    if (this.frozen.has(target)) return new Promise<Result>(() => {});
    this.served.push(target);
    return { target, sql };
  }
  async transaction<T>(fn: (tx: Queryable<Result>) => Promise<T>): Promise<T> {
    return fn({ query: async (sql) => ({ target: 'tx', sql }) });
  }
  /** Probes read `down` and `samples` afresh every round: no connection to renew. */
  renewProbe(): void {}
  drain(): void {}

  async probe(): Promise<ProbeRound> {
    if (this.probeFails) throw new Error('probe exploded');
    return {
      primary: this.down.has('primary')
        ? {
            reachable: false,
            position: null,
            error: this.normalizeError(new Error('connect ECONNREFUSED'), 'primary'),
          }
        : { reachable: true, position: '10' },
      replicas: this.replicaNames.map((name) => ({
        name,
        reachable: !this.down.has(name),
        lag: 0,
        position: '10',
        source: 'test',
        ...this.samples[name],
      })),
    };
  }
  async writePosition(): Promise<WrittenAt> {
    return { position: '11', server: null };
  }
  async checkReplayed(): Promise<{ replayed: boolean; position: string | null }> {
    return { replayed: false, position: null };
  }
  covers(replayed: string, write: string): boolean {
    return Number(replayed) >= Number(write);
  }
  normalizeError(error: unknown, target: string): DatabaseError {
    return error instanceof DatabaseError
      ? error
      : new DatabaseError('REPLICA_CONNECTION', `${target}: ${(error as Error).message}`, { target }, error);
  }
  isRetryableRead(error: DatabaseError): boolean {
    return error.code === 'REPLICA_CONNECTION';
  }
  refusedAsWrite(error: DatabaseError): boolean {
    return error.sqlState === '25006';
  }
  async close(): Promise<void> {}
}

function setup(names = ['a', 'b'], options: ConstructorParameters<typeof ReplicaRouter<Result>>[1] = {}) {
  let now = 1_000_000;
  const driver = new MemoryDriver(names);
  const router = new ReplicaRouter(driver, {
    clock: { now: () => now },
    holdTime: 2000,
    probeInterval: 60_000,
    // Rounds asked for between the scheduled ones run at once here: these cases are about what they find.
    recheckGap: 0,
    ...options,
  });
  const decisions: ReplicaDecision[] = [];
  router.on('decision', (d) => decisions.push(d));
  return { driver, router, decisions, advance: (ms: number) => (now += ms) };
}

describe('ReplicaRouter', () => {
  it('retries a read that failed on a dead replica once, on another replica', async () => {
    const { driver, router, decisions } = setup();
    await router.start();
    driver.down.add('a');
    const results = await Promise.all([0, 1, 2, 3].map(() => router.query('SELECT 1')));
    assert.ok(
      results.every((r) => r.target === 'b'),
      "results.every((r) => r.target === 'b')",
    );
    assert.ok(
      decisions.some(
        (d) => d.kind === 'ReplicaExcluded' && d.replica === 'a' && d.reasons.includes('Unreachable'),
      ),
      "decisions.some((d) => d.kind === 'ReplicaExcluded' && d.replica === 'a' && d.reasons.includes('Unreachable'),)",
    );
    assert.ok(
      decisions.some((d) => d.kind === 'ReadRetried'),
      "decisions.some((d) => d.kind === 'ReadRetried')",
    );
    await router.close();
  });

  it('retries on the primary when no replica is left, and never retries a write', async () => {
    const { driver, router } = setup(['a']);
    await router.start();
    driver.down.add('a');
    assert.equal((await router.query('SELECT 1')).target, 'primary');
    driver.down.add('primary');
    await assert.rejects(router.query('INSERT INTO t VALUES (1)'), { code: 'REPLICA_CONNECTION' });
    assert.equal(driver.served.filter((t) => t === 'primary').length, 1);
    await router.close();
  });

  it('does not retry what db.read() sent if it is not provably a read', async () => {
    const { driver, router } = setup(['a']);
    await router.start();
    driver.down.add('a');
    await assert.rejects(router.read('SELECT nextval($1)', ['s']), {
      code: 'REPLICA_CONNECTION',
      target: 'a',
    });
    assert.deepEqual(driver.served, []);
    await router.close();
  });

  it('a statement that may not run twice, on a replica the probe finds unreachable, fails instead of hanging', {
    timeout: 10_000,
  }, async () => {
    for (const [options, send] of [
      [{ retryReads: false }, (r: ReplicaRouter<Result>) => r.query('SELECT 1')],
      [{}, (r: ReplicaRouter<Result>) => r.read('SHOW server_version')],
    ] as const) {
      const { driver, router } = setup(['a'], options);
      await router.start();
      driver.frozen.add('a');
      const pending = send(router);
      driver.samples.a = { reachable: false };
      // Before, only retryable reads stopped waiting: these hung for as long as the replica was frozen.
      await router.probeNow();
      await assert.rejects(pending, (error: DatabaseError) => {
        assert.equal(error.code, 'REPLICA_CONNECTION');
        assert.equal(error.target, 'a');
        assert.match(error.message, /may still run/);
        return true;
      });
      assert.deepEqual(driver.served, [], 'not run again anywhere');
      await router.close();
    }
  });

  it('with the primary unreachable, replicas fresh at its last answer keep reads; lagging or down ones do not', async () => {
    const { driver, router, decisions } = setup(['fresh', 'lagging', 'dead']);
    driver.samples.lagging = { lag: 9000 };
    await router.start();
    driver.down.add('primary');
    driver.down.add('dead');
    // Lag measured against the lost primary only counts the outage.
    driver.samples.fresh = { lag: 60_000 };
    driver.samples.lagging = { lag: 60_000 };
    await router.probeNow();
    assert.deepEqual(
      router.status().map((r) => [r.name, r.eligible, r.reason]),
      [
        ['fresh', true, 'PrimaryUnreachable'],
        ['lagging', false, 'LagAboveMax'],
        ['dead', false, 'Unreachable'],
      ],
    );
    const outage = decisions.find((d) => d.kind === 'PrimaryUnreachable');
    assert.deepEqual(outage?.reasons, [
      'PrimaryUnreachable',
      'REPLICA_CONNECTION',
      'fresh:PrimaryUnreachable',
      'lagging:LagAboveMax',
      'dead:Unreachable',
    ]);
    assert.ok(
      !decisions.some((d) => d.kind === 'ReplicaExcluded' && d.replica === 'fresh'),
      "!decisions.some((d) => d.kind === 'ReplicaExcluded' && d.replica === 'fresh')",
    );
    assert.deepEqual(await Promise.all([0, 1, 2].map(async () => (await router.query('SELECT 1')).target)), [
      'fresh',
      'fresh',
      'fresh',
    ]);
    // A session that wrote goes to the primary (the replica cannot confirm the write), and fails there.
    await router.session(async () => {
      driver.down.delete('primary');
      await router.query('INSERT INTO t VALUES (1)');
      driver.down.add('primary');
      await assert.rejects(router.query('SELECT 1'), { code: 'REPLICA_CONNECTION', target: 'primary' });
    });
    await assert.rejects(router.query('INSERT INTO t VALUES (2)'), {
      code: 'REPLICA_CONNECTION',
      target: 'primary',
    });
    // The primary back: lag counts again.
    driver.down.delete('primary');
    await router.probeNow();
    assert.deepEqual(
      router.status().map((r) => [r.name, r.eligible, r.reason]),
      [
        ['fresh', false, 'LagAboveMax'],
        ['lagging', false, 'LagAboveMax'],
        ['dead', false, 'Unreachable'],
      ],
    );
    assert.equal(decisions.filter((d) => d.kind === 'PrimaryRestored').length, 1);
    assert.equal(decisions.filter((d) => d.kind === 'PrimaryUnreachable').length, 1);
    await router.close();
  });

  it('fail mode refuses reads when no replica qualifies', async () => {
    const { driver, router } = setup(['a'], { fallback: 'fail' });
    driver.samples.a = { lag: 9000 };
    await router.start();
    await assert.rejects(router.query('SELECT 1'), { code: 'REPLICA_NO_ELIGIBLE' });
    assert.equal((await router.write('SELECT 1')).target, 'primary');
    await router.close();
  });

  it("says why reads fall back when the eligible replicas' samples are stale, and when they stop", async () => {
    const { router, decisions, advance } = setup(['a'], { staleAfter: 90_000 });
    await router.start();
    assert.equal((await router.query('SELECT 1')).target, 'a');
    advance(90_000);
    assert.equal(
      (await router.query('SELECT 1')).target,
      'a',
      'a sample exactly staleAfter old still counts',
    );
    advance(1);
    assert.equal((await router.query('SELECT 1')).target, 'primary');
    assert.equal((await router.query('SELECT 1')).target, 'primary');
    const started = decisions.filter((d) => d.kind === 'FallbackStarted');
    assert.equal(started.length, 1, 'one decision for the episode, not one per read');
    assert.deepEqual(started[0]!.reasons, ['NoEligibleReplica', 'a:ProbeStale']);
    assert.match(started[0]!.message, /staleAfter, 90000 ms: a's is 90001 ms old/);
    await router.probeNow();
    assert.equal((await router.query('SELECT 1')).target, 'a');
    assert.deepEqual(
      decisions.map((d) => d.kind),
      ['ReplicaAdmitted', 'FallbackStarted', 'FallbackEnded'],
    );
    await router.close();
  });

  it('holds a recovered replica back for holdTime by the injected clock', async () => {
    const { driver, router, decisions, advance } = setup(['a']);
    await router.start();
    driver.samples.a = { lag: 6000 };
    await router.probeNow();
    assert.equal((await router.query('SELECT 1')).target, 'primary');
    driver.samples.a = { lag: 0 };
    await router.probeNow();
    advance(1999);
    await router.probeNow();
    assert.equal(router.status()[0]?.reason, 'Holding');
    advance(1);
    await router.probeNow();
    assert.equal((await router.query('SELECT 1')).target, 'a');
    assert.deepEqual(
      decisions.map((d) => d.kind),
      ['ReplicaAdmitted', 'ReplicaExcluded', 'FallbackStarted', 'ReplicaRestored', 'FallbackEnded'],
    );
    await router.close();
  });

  it('sessions route reads after a write by position; transactions pin everything', async () => {
    const { router } = setup(['a']);
    await router.start();
    assert.equal((await router.session(() => router.query('SELECT 1'))).target, 'a');
    const afterWrite = await router.session(async () => {
      await router.query('UPDATE t SET a = 1');
      return router.query('SELECT 1');
    });
    assert.equal(afterWrite.target, 'primary', 'replica at 10 has not replayed 11, and says so when asked');
    const inTx = await router.transaction(async () => [
      await router.query('SELECT 1'),
      await router.read('SELECT 2'),
    ]);
    assert.deepEqual(
      inTx.map((r) => r.target),
      ['tx', 'tx'],
    );
    await router.close();
  });

  it('refuses transaction control outside db.transaction(fn); inside it the statement runs on its connection', async () => {
    const { driver, router } = setup(['a']);
    await router.start();
    // Through the pool, BEGIN left a primary connection mid-transaction and the next read went to a replica.
    for (const sql of ['BEGIN', 'start transaction read only', 'COMMIT', 'ROLLBACK', 'SAVEPOINT s']) {
      for (const send of [router.query, router.write, router.read]) {
        await assert.rejects(send.call(router, sql), (error: ReplicaError) => {
          assert.equal(error.code, 'REPLICA_INVALID_ARGUMENT');
          assert.match(error.message, /db\.transaction\(fn\)/);
          return true;
        });
      }
    }
    assert.deepEqual(driver.served, [], 'nothing reached a server');
    assert.equal((await router.query('START SLAVE')).target, 'primary', 'not a transaction');
    const inTx = await router.transaction(() => router.query('SAVEPOINT s'));
    assert.equal(inTx.target, 'tx');
    await router.close();
  });

  it('reports background failures to the logger when nobody listens, and close() is idempotent', async () => {
    const { driver, router } = setup(['a']);
    const logged: string[] = [];
    const quiet = new ReplicaRouter(driver, { logger: { warn: (_o, m) => logged.push(m) } });
    driver.probeFails = true;
    await quiet.start();
    assert.deepEqual(logged, ['probe round failed']);
    const errors: ReplicaError[] = [];
    router.on('error', (e) => errors.push(e));
    await router.start();
    assert.equal(errors[0]?.code, 'REPLICA_PROBE');
    await Promise.all([router.close(), router.close(), quiet.close()]);
    await assert.rejects(router.query('SELECT 1'), { code: 'REPLICA_CLOSED' });
  });

  it('rejects a replica named primary', () => {
    assert.throws(() => new ReplicaRouter(new MemoryDriver(['primary'])), {
      code: 'REPLICA_INVALID_ARGUMENT',
    });
  });
});

// Read-your-writes across a primary change, over an in-memory driver with an injected clock: a
// session's write position from the old primary is not compared with replicas of the new one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DatabaseError,
  type ProbeRound,
  type Queryable,
  type ReplicaDriver,
  type ReplicaError,
  ReplicaRouter,
  type Statement,
  type WrittenAt,
} from '../../src/replicas/index.js';

type Result = { target: string; sql: Statement };

/** One primary and one replica; positions are numbers, as one timeline's LSNs would compare. */
class FailoverDriver implements ReplicaDriver<Result> {
  readonly dialect = 'postgres' as const;
  readonly replicaNames = ['a'];
  primaryReadOnly = false;
  primaryDown = false;
  primaryPosition = '100';
  replicaPosition = '90';
  /** Which server the primary's address leads to (ProbeRound primary.server); null: the driver cannot tell. */
  primaryServer: string | null = null;
  /** What primary transactions ran, in order: statements, then COMMIT or ROLLBACK. */
  readonly txLog: string[] = [];

  attach(_report: (error: ReplicaError) => void): void {}
  async prepare(): Promise<void> {}
  async query(target: string, sql: Statement): Promise<Result> {
    return { target, sql };
  }
  async transaction<T>(fn: (tx: Queryable<Result>) => Promise<T>): Promise<T> {
    try {
      const result = await fn({
        query: async (sql) => {
          this.txLog.push(String(sql));
          return { target: 'primary', sql };
        },
      });
      this.txLog.push('COMMIT');
      return result;
    } catch (error) {
      this.txLog.push('ROLLBACK');
      throw error;
    }
  }
  renewProbe(): void {}
  drain(): void {}
  /** While set, a round reads the servers when it starts and answers once this settles (a slow round). */
  gate: Promise<void> | null = null;

  async probe(): Promise<ProbeRound> {
    const round = this.#read();
    if (this.gate !== null) await this.gate;
    return round;
  }
  #read(): ProbeRound {
    return {
      primary: this.primaryDown
        ? { reachable: false, position: null, error: this.normalizeError(new Error('down'), 'primary') }
        : this.primaryReadOnly
          ? {
              reachable: true,
              readOnly: true,
              position: null,
              error: this.normalizeError(new Error('in recovery'), 'primary'),
            }
          : { reachable: true, position: this.primaryPosition, server: this.primaryServer },
      replicas: [{ name: 'a', reachable: true, lag: 0, position: this.replicaPosition, source: 'test' }],
    };
  }
  async writePosition(): Promise<WrittenAt> {
    return { position: this.primaryPosition, server: this.primaryServer };
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

function setup(readYourWrites: { mode: 'replayed' | 'window' } = { mode: 'replayed' }) {
  let now = 1_000_000;
  const driver = new FailoverDriver();
  const router = new ReplicaRouter(driver, {
    clock: { now: () => now },
    probeInterval: 60_000,
    maxLag: 5000,
    readYourWrites: { ...readYourWrites, window: 2000 },
  });
  return { driver, router, advance: (ms: number) => (now += ms) };
}

/** failover: the old primary is demoted, then the address leads to a new primary whose numbers are lower. */
async function failover(driver: FailoverDriver, router: ReplicaRouter<Result>, how: 'role' | 'unreachable') {
  if (how === 'role') driver.primaryReadOnly = true;
  else driver.primaryDown = true;
  await router.probeNow();
  driver.primaryReadOnly = false;
  driver.primaryDown = false;
  // The new primary's timeline: its replica reports a position past the old write's number, yet it
  // replays another server's history (a MariaDB GTID of another server, an LSN of another timeline).
  driver.primaryPosition = '40';
  driver.replicaPosition = '150';
  await router.probeNow();
}

describe('read-your-writes across a primary change', () => {
  for (const how of ['role', 'unreachable'] as const) {
    it(`reads of a session that wrote before the change (${how}) go to the new primary, then to replicas once bounded`, async () => {
      const { driver, router, advance } = setup();
      await router.start();
      await router.session(async () => {
        await router.query('INSERT INTO t VALUES (1)');
        await failover(driver, router, how);
        const first = await router.query('SELECT * FROM t');
        assert.equal(
          first.target,
          'primary',
          `a session write from before the primary change was compared with the new replica's position (read went to ${first.target})`,
        );
        advance(5000);
        const later = await router.query('SELECT * FROM t');
        assert.equal(
          later.target,
          'a',
          `after the bound (maxLag) the read went to ${later.target}, not the replica`,
        );
        // A write on the new primary is comparable again: its position (40) is covered by 150.
        await router.query('INSERT INTO t VALUES (2)');
        const after = await router.query('SELECT * FROM t');
        assert.equal(after.target, 'a', `a read after a new write went to ${after.target}`);
      });
      await router.close();
    });
  }

  it('window mode: a session that wrote before the change reads from the primary for the bound after it', async () => {
    const { driver, router, advance } = setup({ mode: 'window' });
    await router.start();
    await router.session(async () => {
      await router.query('INSERT INTO t VALUES (1)');
      advance(3000); // the write window (2000 ms) has passed before the failover
      await failover(driver, router, 'role');
      const first = await router.query('SELECT * FROM t');
      assert.equal(first.target, 'primary', `read right after the primary change went to ${first.target}`);
      advance(5000);
      const later = await router.query('SELECT * FROM t');
      assert.equal(later.target, 'a', `read after the bound went to ${later.target}`);
    });
    await router.close();
  });

  it('a session that did not write keeps reading from replicas across the change', async () => {
    const { driver, router } = setup();
    await router.start();
    await router.session(async () => {
      await failover(driver, router, 'role');
      const read = await router.query('SELECT * FROM t');
      assert.equal(read.target, 'a', `read of a session with no write went to ${read.target}`);
    });
    await router.close();
  });
});

describe('read-your-writes when the primary answers again, or another server answers', () => {
  /** decisions records the router's decisions from now on. */
  function decisions(router: ReplicaRouter<Result>) {
    const seen: Array<{ kind: string; reasons: string[] }> = [];
    router.on('decision', (d) => seen.push(d));
    return seen;
  }

  it('the same server back after an outage: a session write from before still compares, reads stay on a replica that has it', async () => {
    const { driver, router } = setup();
    driver.primaryServer = 'server_id 1';
    driver.replicaPosition = '150';
    await router.start();
    const seen = decisions(router);
    await router.session(async () => {
      await router.query('INSERT INTO t VALUES (1)');
      driver.primaryDown = true;
      await router.probeNow();
      driver.primaryDown = false;
      await router.probeNow();
      const read = await router.query('SELECT * FROM t');
      assert.equal(
        read.target,
        'a',
        `the same server came back, yet the read of a session whose write the replica has went to ${read.target}`,
      );
    });
    const restored = seen.find((d) => d.kind === 'PrimaryRestored');
    assert.deepEqual(restored?.reasons, ['PrimaryReachable', 'SameServer']);
    await router.close();
  });

  it('the same server back with its history rewound (position behind the last seen): reads go to the primary', async () => {
    const { driver, router } = setup();
    driver.primaryServer = 'server_id 1';
    await router.start();
    await router.session(async () => {
      await router.query('INSERT INTO t VALUES (1)');
      driver.primaryDown = true;
      await router.probeNow();
      driver.primaryDown = false;
      driver.primaryPosition = '40';
      driver.replicaPosition = '150';
      await router.probeNow();
      const read = await router.query('SELECT * FROM t');
      assert.equal(read.target, 'primary', `a rewound primary's session read went to ${read.target}`);
    });
    await router.close();
  });

  it('another server back after an outage: reads go to the primary, and connections opened before are retired', async () => {
    const { driver, router } = setup();
    driver.primaryServer = 'server_id 1';
    let drained = 0;
    driver.drain = () => {
      drained++;
    };
    await router.start();
    const seen = decisions(router);
    await router.session(async () => {
      await router.query('INSERT INTO t VALUES (1)');
      driver.primaryDown = true;
      await router.probeNow();
      driver.primaryDown = false;
      driver.primaryServer = 'server_id 2';
      driver.primaryPosition = '40';
      driver.replicaPosition = '150';
      await router.probeNow();
      const read = await router.query('SELECT * FROM t');
      assert.equal(read.target, 'primary', `read after another server answered went to ${read.target}`);
    });
    assert.deepEqual(seen.find((d) => d.kind === 'PrimaryRestored')?.reasons, [
      'PrimaryReachable',
      'OtherServer',
    ]);
    assert.equal(drained, 1, 'the primary pool is drained once');
    await router.close();
  });

  it('another server found between two rounds that both reached a writable primary: PrimaryReplaced, reads go to the primary', async () => {
    const { driver, router } = setup();
    driver.primaryServer = 'server_id 1';
    await router.start();
    const seen = decisions(router);
    await router.session(async () => {
      await router.query('INSERT INTO t VALUES (1)');
      // The address moved to a promoted replica between two rounds; the probe reconnected unnoticed.
      driver.primaryServer = 'server_id 2';
      driver.primaryPosition = '40';
      driver.replicaPosition = '150';
      await router.probeNow();
      const read = await router.query('SELECT * FROM t');
      assert.equal(
        read.target,
        'primary',
        `a session write from the old server was compared with the replica (read went to ${read.target})`,
      );
    });
    assert.deepEqual(
      seen.map((d) => [d.kind, ...d.reasons]),
      [['PrimaryReplaced', 'PrimaryReplaced', 'Probe']],
    );
    await router.close();
  });

  it('a write that lands on another server than the last round found: PrimaryReplaced at once, the read goes to the primary', async () => {
    const { driver, router } = setup();
    driver.primaryServer = 'server_id 1';
    await router.start();
    const seen = decisions(router);
    let rounds = 0;
    router.on('probe', () => rounds++);
    await router.session(async () => {
      // No round runs: the write alone tells. Its position (120) is on the new server's history; the
      // replica's (150) is on the old one's, past the fork, without this write.
      driver.primaryServer = 'server_id 2';
      driver.primaryPosition = '120';
      driver.replicaPosition = '150';
      await router.query('INSERT INTO t VALUES (1)');
      const read = await router.query('SELECT * FROM t');
      assert.equal(
        read.target,
        'primary',
        `the write's position from the new server was compared with the old one's replica (read went to ${read.target})`,
      );
    });
    assert.deepEqual(
      seen.map((d) => [d.kind, ...d.reasons]),
      [['PrimaryReplaced', 'PrimaryReplaced', 'WriteLanded']],
    );
    // The recheck round on a new probe connection finds the new server: no change back.
    while (rounds === 0) await router.probeNow();
    assert.equal(seen.length, 1, JSON.stringify(seen));
    await router.close();
  });
});

describe('a round under way when a write finds another server', () => {
  it('does not turn the router back to the server the address left', async () => {
    const { driver, router } = setup();
    driver.primaryServer = 'server_id 1';
    await router.start();
    const seen: Array<{ kind: string; reasons: string[] }> = [];
    router.on('decision', (d) => seen.push(d));
    let open = () => {};
    driver.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    // Reads server_id 1 now, answers after the write below.
    const slow = router.probeNow();
    driver.primaryServer = 'server_id 2';
    driver.primaryPosition = '120';
    driver.replicaPosition = '150';
    await router.session(async () => {
      await router.query('INSERT INTO t VALUES (1)');
      driver.gate = null;
      open();
      await slow;
      // The recheck the write asked for, on a new probe connection: server_id 2.
      await router.probeNow();
      const read = await router.query('SELECT * FROM t');
      assert.equal(read.target, 'primary', `the session read went to ${read.target}`);
    });
    assert.deepEqual(
      seen.map((d) => [d.kind, ...d.reasons]),
      [['PrimaryReplaced', 'PrimaryReplaced', 'WriteLanded']],
      'one change, to server_id 2; the slow round that read server_id 1 is not a change back',
    );
    await router.close();
  });
});

describe('a primary transaction across a role change of the primary', () => {
  for (const change of ['demoted', 'address moved'] as const) {
    it(`refuses its statements and its COMMIT once the primary was ${change} (rolled back)`, async () => {
      const { driver, router } = setup();
      await router.start();
      let refused: unknown = null;
      const outcome = await router
        .transaction(async (tx) => {
          await tx.query('INSERT INTO t VALUES (1)');
          driver.primaryReadOnly = true;
          await router.probeNow();
          if (change === 'address moved') {
            driver.primaryReadOnly = false;
            await router.probeNow();
          }
          // The caller may swallow the refusal: the COMMIT is refused all the same.
          await router.query('INSERT INTO t VALUES (2)').catch((error: unknown) => {
            refused = error;
          });
          return 'done';
        })
        .then(
          (value) => ({ value }),
          (error: unknown) => ({ error }),
        );
      assert.equal(
        (refused as { code?: string } | null)?.code,
        'REPLICA_PRIMARY_READ_ONLY',
        `a statement after the role change was ${refused === null ? 'run' : `refused with ${String(refused)}`}`,
      );
      assert.deepEqual(
        driver.txLog,
        ['INSERT INTO t VALUES (1)', 'ROLLBACK'],
        `the transaction's connection ran ${JSON.stringify(driver.txLog)}`,
      );
      assert.ok('error' in outcome, `the transaction settled with ${JSON.stringify(outcome)}`);
      assert.equal((outcome.error as { code?: string }).code, 'REPLICA_PRIMARY_READ_ONLY');
      assert.match((outcome.error as Error).message, /role changed while this transaction ran/);
      await router.close();
    });
  }

  it('commits a transaction that began after the role change', async () => {
    const { driver, router } = setup();
    await router.start();
    driver.primaryReadOnly = true;
    await router.probeNow();
    driver.primaryReadOnly = false;
    await router.probeNow();
    await router.transaction(async (tx) => {
      await tx.query('INSERT INTO t VALUES (1)');
    });
    assert.deepEqual(driver.txLog, ['INSERT INTO t VALUES (1)', 'COMMIT'], JSON.stringify(driver.txLog));
    await router.close();
  });
});

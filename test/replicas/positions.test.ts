import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import {
  appendPosition,
  bypassesReadOnly,
  createPgRouter,
  estimatePgLag,
  lagBelowFromPositions,
  lagFromHeartbeat,
  lagFromReplicaStatus,
  lsnCovers,
  mariadbCovers,
  mysqlCovers,
  type PgRouterOptions,
  parseLsn,
  resolveRouterOptions,
} from '../../src/replicas/index.js';
import { appendLsnSample } from '../../src/replicas/postgres/lag.js';

describe('PostgreSQL LSNs and lag', () => {
  it('parses and compares LSNs', () => {
    assert.equal(parseLsn('0/0'), 0n);
    assert.equal(parseLsn('16/B374D848'), (0x16n << 32n) + 0xb374d848n);
    assert.ok(lsnCovers('1/0', '0/FFFFFFFF'), "lsnCovers('1/0', '0/FFFFFFFF')");
    assert.ok(lsnCovers('0/3000148', '0/3000148'), "lsnCovers('0/3000148', '0/3000148')");
    assert.ok(!lsnCovers('0/3000147', '0/3000148'), "!lsnCovers('0/3000147', '0/3000148')");
    assert.throws(() => parseLsn('nope'), RangeError);
  });

  const replica = (replay: string | null, timestampLag: number | null, inRecovery = true) => ({
    inRecovery,
    replayLsn: replay === null ? null : parseLsn(replay),
    timestampLag,
  });
  const history = [
    { at: 1000, lsn: parseLsn('0/100') },
    { at: 2000, lsn: parseLsn('0/200') },
    { at: 3000, lsn: parseLsn('0/300') },
  ];
  const cases: Array<[string, ReturnType<typeof replica>, string | null, number | null, string]> = [
    [
      'caught up on an idle primary, however old the last commit',
      replica('0/300', 3_600_000),
      '0/300',
      0,
      'caught-up',
    ],
    ['ahead of the primary sample read first', replica('0/310', 50), '0/300', 0, 'caught-up'],
    [
      'behind: bounded by the newest primary sample it has replayed',
      replica('0/200', 3_600_000),
      '0/300',
      1500,
      'wal-history',
    ],
    [
      'behind: the replay timestamp when it is tighter',
      replica('0/200', 700),
      '0/300',
      700,
      'replay-timestamp',
    ],
    [
      'behind everything in history: the timestamp',
      replica('0/050', 9000),
      '0/300',
      9000,
      'replay-timestamp',
    ],
    [
      'behind everything and no commit replayed yet: unknown',
      replica('0/050', null),
      '0/300',
      null,
      'unknown',
    ],
    ['primary unreachable: earlier samples still bound it', replica('0/300', 800), null, 500, 'wal-history'],
    ['not in recovery (promoted): unknown', replica('0/300', 0, false), '0/300', null, 'not-a-replica'],
    ['no replay position: unknown', replica(null, 0), '0/300', null, 'unknown'],
    // pg_switch_wal() on an idle primary: replay stops at the segment start, insert is past its 40-byte header.
    [
      'at a segment start, primary past the long header: caught-up',
      replica('0/4000000', 9000),
      '0/4000028',
      0,
      'caught-up',
    ],
    [
      'at a page start, primary past the short header: caught-up',
      replica('0/2000', 9000),
      '0/2018',
      0,
      'caught-up',
    ],
    [
      'at a page start, primary one record further: behind',
      replica('0/2000', 9000),
      '0/2030',
      500,
      'wal-history',
    ],
    ['mid-page, 24 bytes behind: behind', replica('0/1FE8', 9000), '0/2000', 500, 'wal-history'],
  ];
  for (const [name, reading, primary, lag, source] of cases) {
    it(name, () => {
      const estimate = estimatePgLag(reading, primary === null ? null : parseLsn(primary), history, 3500);
      assert.equal(estimate.lag, lag);
      assert.equal(estimate.source, source);
    });
  }

  it('a page boundary has replayed the history sample just past its header', () => {
    const idle = [
      { at: 500, lsn: parseLsn('0/1000') },
      { at: 3000, lsn: parseLsn('0/4000028') },
    ];
    const estimate = estimatePgLag(replica('0/4000000', 9000), null, idle, 3500);
    assert.deepEqual(estimate, { lag: 500, source: 'wal-history' });
  });

  it('keeps the latest moment of each position and prunes old samples but one', () => {
    let h = appendLsnSample([], { at: 0, lsn: 1n }, 10_000);
    h = appendLsnSample(h, { at: 1000, lsn: 1n }, 10_000);
    assert.deepEqual(h, [{ at: 1000, lsn: 1n }]);
    h = appendLsnSample(h, { at: 2000, lsn: 2n }, 10_000);
    h = appendLsnSample(h, { at: 30_000, lsn: 3n }, 10_000);
    assert.deepEqual(h, [
      { at: 2000, lsn: 2n },
      { at: 30_000, lsn: 3n },
    ]);
  });
});

describe('GTID positions', () => {
  const maria: Array<[string, string, boolean]> = [
    ['0-1-10', '0-1-10', true],
    ['0-1-11', '0-1-10', true],
    ['0-1-9', '0-1-10', false],
    ['0-2-12', '0-1-10', true], // MariaDB compares sequence numbers per domain, whatever the server
    ['0-1-10,1-1-5', '0-1-10,1-1-6', false],
    ['0-1-10,1-1-7', '0-1-10,1-1-6', true],
    ['0-1-10', '1-1-1', false],
    ['', '0-1-1', false],
    ['0-1-1', '', true],
  ];
  for (const [have, want, expected] of maria) {
    it(`MariaDB ${JSON.stringify(have)} covers ${JSON.stringify(want)}: ${expected}`, () =>
      assert.equal(mariadbCovers(have, want), expected));
  }
  const u1 = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
  const u2 = '4f22fb58-82db-22f2-af44-d91bba53a673';
  const mysql: Array<[string, string, boolean]> = [
    [`${u1}:1-10`, `${u1}:1-10`, true],
    [`${u1}:1-10`, `${u1}:5`, true],
    [`${u1}:1-10`, `${u1}:1-11`, false],
    [`${u1}:1-5:7-10`, `${u1}:6`, false],
    [`${u1}:1-5:6-10`, `${u1}:3-8`, true],
    [`${u1}:1-10,\n${u2}:1-3`, `${u2}:2,${u1}:9`, true],
    [`${u1}:1-10`, `${u2}:1`, false],
    [`${u1.toUpperCase()}:1-10`, `${u1}:4`, true],
  ];
  for (const [have, want, expected] of mysql) {
    it(`MySQL ${JSON.stringify(have)} covers ${JSON.stringify(want)}: ${expected}`, () =>
      assert.equal(mysqlCovers(have, want), expected));
  }
});

describe('MySQL/MariaDB lag readings', () => {
  const running = { Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes' };
  const cases: Array<[string, Parameters<typeof lagFromReplicaStatus>[0], number | null]> = [
    ['seconds behind', { ...running, Seconds_Behind_Master: 3 }, 3000],
    ['zero', { ...running, Seconds_Behind_Master: 0 }, 0],
    ['NULL is unknown, never 0', { ...running, Seconds_Behind_Master: null }, null],
    [
      'SQL thread stopped',
      { Slave_IO_Running: 'Yes', Slave_SQL_Running: 'No', Seconds_Behind_Master: 0 },
      null,
    ],
    [
      'IO thread connecting',
      { Slave_IO_Running: 'Connecting', Slave_SQL_Running: 'Yes', Seconds_Behind_Master: 0 },
      null,
    ],
    [
      'MySQL 8 names',
      { Replica_IO_Running: 'Yes', Replica_SQL_Running: 'Yes', Seconds_Behind_Source: 2 },
      2000,
    ],
    ['not a replica', undefined, null],
  ];
  for (const [name, row, lag] of cases)
    it(`status: ${name}`, () => assert.equal(lagFromReplicaStatus(row), lag));

  it('heartbeat age', () => {
    assert.equal(lagFromHeartbeat(1234.5), 1234.5);
    assert.equal(lagFromHeartbeat('250'), 250);
    assert.equal(lagFromHeartbeat(-3), 0);
    assert.equal(lagFromHeartbeat(null), null);
  });

  // Primary positions first read at 1000 (0-1-5, read again at 2000: an idle primary), 3000 (0-1-9).
  let history = appendPosition([], { at: 1000, position: '0-1-5' }, 60_000);
  history = appendPosition(history, { at: 2000, position: '0-1-5' }, 60_000);
  history = appendPosition(history, { at: 3000, position: '0-1-9' }, 60_000);
  const below: Array<[string, string | null, number | null]> = [
    ['has every position', '0-1-9', 0],
    ['lacks the newest only: as old as its first reading', '0-1-7', 7000 - 3000],
    ['lacks the position first read at 1000, read again at 2000: 1000 counts', '0-1-4', 7000 - 1000],
    ['position unknown', null, null],
  ];
  for (const [name, replayed, expected] of below)
    it(`lag from below: ${name}`, () =>
      assert.equal(lagBelowFromPositions(history, replayed, mariadbCovers, 7000), expected));

  it('positions older than the window go, but the newest of them', () => {
    const kept = appendPosition(history, { at: 70_000, position: '0-1-12' }, 60_000);
    assert.deepEqual(
      kept.map((s) => s.position),
      ['0-1-9', '0-1-12'],
      'the sample at 3000 stays: a replica behind it is bounded by its age',
    );
  });

  const grants: Array<[string, boolean]> = [
    ['GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION', true],
    ['GRANT SUPER, REPLICATION SLAVE ON *.* TO `ops`@`%`', true],
    ['GRANT READ_ONLY ADMIN ON *.* TO `app`@`%`', true],
    ['GRANT CONNECTION_ADMIN ON *.* TO `app`@`%`', true],
    ['GRANT SELECT, INSERT, UPDATE, DELETE ON *.* TO `scaleplane`@`127.0.0.1`', false],
    ['GRANT ALL PRIVILEGES ON `app`.* TO `app`@`%`', false],
    ['GRANT `dba` TO `app`@`%`', false],
  ];
  for (const [grant, expected] of grants)
    it(`read_only bypassed: ${grant}`, () => assert.equal(bypassesReadOnly(grant), expected, grant));
});

describe('resolveRouterOptions', () => {
  it('applies defaults', () => {
    const o = resolveRouterOptions();
    assert.equal(o.maxLag, 5000);
    assert.equal(o.probeInterval, 1000);
    assert.equal(o.staleAfter, 4000);
    assert.equal(o.fallback, 'primary');
    assert.equal(o.readYourWrites.mode, 'replayed');
  });
  it('keeps staleAfter longer than a round whose primary and replica probes both time out', () => {
    const o = resolveRouterOptions({ probeInterval: 1000, probeTimeout: 5000 });
    // The gap between two samples of one replica can reach interval + 2 × timeout = 11000 ms.
    assert.ok(o.staleAfter > 11_000, `staleAfter ${o.staleAfter}`);
  });
  for (const [field, options] of [
    ['maxLag', { maxLag: -1 }],
    ['probeInterval', { probeInterval: 0 }],
    ['fallback', { fallback: 'nowhere' as 'fail' }],
    ['readYourWrites.mode', { readYourWrites: { mode: 'sometimes' as 'off' } }],
    ['staleAfter', { probeInterval: 2000, staleAfter: 1000 }],
    ['retryReads', { retryReads: 'no' as unknown as boolean }],
    ['readYourWrites.verify', { readYourWrites: { verify: 0 as unknown as boolean } }],
    ['name', { name: 5 as unknown as string }],
  ] as const) {
    it(`rejects a bad ${field}`, () =>
      assert.throws(
        () => resolveRouterOptions(options),
        (e: Error & { code?: string }) => {
          return e.code === 'REPLICA_INVALID_ARGUMENT' && e.message.startsWith(field);
        },
      ));
  }
});

describe('router pools', () => {
  const pool = new pg.Pool({ host: '127.0.0.1', port: 1 });
  for (const [field, options] of [
    ['primary', { replicas: { r1: pool } }],
    ['replicas', { primary: pool }],
    ['replicas', { primary: pool, replicas: [pool] }],
    ['replicas.r1', { primary: pool, replicas: { r1: undefined } }],
  ] as const) {
    it(`names ${field} when ${JSON.stringify(Object.keys(options))} is wrong`, () =>
      assert.throws(
        () => createPgRouter(options as unknown as PgRouterOptions),
        (e: Error & { code?: string }) =>
          e.code === 'REPLICA_INVALID_ARGUMENT' && e.message.startsWith(`${field} must be`),
      ));
  }
});

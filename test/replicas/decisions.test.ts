import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  chooseRead,
  type EligibilityReason,
  evaluateReplica,
  evaluateWithoutPrimary,
  initialReplicaHealth,
  type ReplicaHealth,
  type ReplicaView,
  type RouteConfig,
  type SessionWrite,
} from '../../src/replicas/index.js';

const config = { maxLag: 5000, holdTime: 3000 };

describe('evaluateReplica', () => {
  const out: ReplicaHealth = { eligible: false, reason: 'LagAboveMax', goodSince: null };
  const fine: ReplicaHealth = { eligible: true, reason: 'LagWithinMax', goodSince: 0 };
  const holding: ReplicaHealth = { eligible: false, reason: 'Holding', goodSince: 10_000 };
  const cases: Array<
    [string, ReplicaHealth, { reachable: boolean; lag: number | null }, number, boolean, EligibilityReason]
  > = [
    [
      'first sample admits at once',
      initialReplicaHealth,
      { reachable: true, lag: 0 },
      0,
      true,
      'LagWithinMax',
    ],
    [
      'first sample over the bound',
      initialReplicaHealth,
      { reachable: true, lag: 6000 },
      0,
      false,
      'LagAboveMax',
    ],
    ['lag exactly maxLag qualifies', fine, { reachable: true, lag: 5000 }, 1000, true, 'LagWithinMax'],
    ['lag 1 ms over maxLag does not', fine, { reachable: true, lag: 5001 }, 1000, false, 'LagAboveMax'],
    [
      'unknown lag (NULL Seconds_Behind_Master) is never 0',
      fine,
      { reachable: true, lag: null },
      1000,
      false,
      'LagUnknown',
    ],
    ['NaN lag is unknown', fine, { reachable: true, lag: Number.NaN }, 1000, false, 'LagUnknown'],
    ['unreachable', fine, { reachable: false, lag: 0 }, 1000, false, 'Unreachable'],
    ['recovering starts holding', out, { reachable: true, lag: 10 }, 10_000, false, 'Holding'],
    ['still holding just before holdTime', holding, { reachable: true, lag: 10 }, 12_999, false, 'Holding'],
    ['restored at exactly holdTime', holding, { reachable: true, lag: 10 }, 13_000, true, 'LagWithinMax'],
    [
      'a relapse while holding restarts the hold',
      holding,
      { reachable: true, lag: 9000 },
      12_000,
      false,
      'LagAboveMax',
    ],
  ];
  for (const [name, previous, sample, now, eligible, reason] of cases) {
    it(name, () => {
      const next = evaluateReplica(previous, sample, config, now);
      assert.equal(next.eligible, eligible);
      assert.equal(next.reason, reason);
    });
  }

  it('the hold restarts after a relapse', () => {
    let h = evaluateReplica(out, { reachable: true, lag: 0 }, config, 0);
    h = evaluateReplica(h, { reachable: true, lag: 0 }, config, 2000);
    h = evaluateReplica(h, { reachable: false, lag: null }, config, 2500);
    h = evaluateReplica(h, { reachable: true, lag: 0 }, config, 3000);
    assert.equal(evaluateReplica(h, { reachable: true, lag: 0 }, config, 5999).reason, 'Holding');
    assert.equal(evaluateReplica(h, { reachable: true, lag: 0 }, config, 6000).eligible, true);
  });
});

describe('evaluateWithoutPrimary', () => {
  const fine: ReplicaHealth = { eligible: true, reason: 'LagWithinMax', goodSince: 0 };
  const kept: ReplicaHealth = { eligible: true, reason: 'PrimaryUnreachable', goodSince: 0 };
  const cases: Array<[string, ReplicaHealth, boolean, boolean, EligibilityReason]> = [
    [
      'fresh at the last measurement keeps reads, whatever lag reads now',
      fine,
      true,
      true,
      'PrimaryUnreachable',
    ],
    ['still kept on the next round', kept, true, true, 'PrimaryUnreachable'],
    ['a kept replica that stops answering is out', kept, false, false, 'Unreachable'],
    [
      'lagging stays out',
      { eligible: false, reason: 'LagAboveMax', goodSince: null },
      true,
      false,
      'LagAboveMax',
    ],
    [
      'unknown lag stays out',
      { eligible: false, reason: 'LagUnknown', goodSince: null },
      true,
      false,
      'LagUnknown',
    ],
    [
      'down stays out, even answering now',
      { eligible: false, reason: 'Unreachable', goodSince: null },
      true,
      false,
      'Unreachable',
    ],
    ['holding stays out', { eligible: false, reason: 'Holding', goodSince: 100 }, true, false, 'Holding'],
    ['never measured is unknown', initialReplicaHealth, true, false, 'LagUnknown'],
  ];
  for (const [name, previous, reachable, eligible, reason] of cases) {
    it(name, () => {
      const next = evaluateWithoutPrimary(previous, { reachable, lag: 60_000 });
      assert.deepEqual([next.eligible, next.reason], [eligible, reason]);
    });
  }

  it('a hold starts over once the primary answers: the outage does not count towards it', () => {
    const holding: ReplicaHealth = { eligible: false, reason: 'Holding', goodSince: 0 };
    const during = evaluateWithoutPrimary(holding, { reachable: true, lag: null });
    assert.equal(evaluateReplica(during, { reachable: true, lag: 0 }, config, 10_000).reason, 'Holding');
    assert.equal(
      evaluateReplica(holding, { reachable: true, lag: 0 }, config, 10_000).reason,
      'LagWithinMax',
    );
  });
});

describe('chooseRead', () => {
  const route: RouteConfig = {
    fallback: 'primary',
    readYourWrites: 'replayed',
    writeWindow: 5000,
    verifyReplay: true,
    staleAfter: 3000,
    lagTolerance: 100,
  };
  const covers = (replayed: string, write: string) => Number(replayed) >= Number(write);
  const view = (name: string, over: Partial<ReplicaView> = {}): ReplicaView => ({
    name,
    eligible: true,
    lag: 0,
    inFlight: 0,
    position: '10',
    probedAt: 1000,
    ...over,
  });
  const now = 1500;
  const pick = (
    replicas: ReplicaView[],
    write: SessionWrite | null = null,
    over: Partial<RouteConfig> = {},
    tie = 0,
  ) => chooseRead(replicas, write, { ...route, ...over }, now, covers, tie);
  const where = (d: ReturnType<typeof pick>) =>
    d.target === 'replica' ? `${d.replica.name}/${d.reason}` : `${d.target}/${d.reason}`;

  const cases: Array<[string, ReplicaView[], SessionWrite | null, Partial<RouteConfig>, string]> = [
    ['no replicas', [], null, {}, 'primary/NoReplicas'],
    ['least lag wins', [view('a', { lag: 900 }), view('b', { lag: 0 })], null, {}, 'b/LeastLag'],
    [
      'lag within tolerance ties, least in flight wins',
      [view('a', { lag: 50, inFlight: 1 }), view('b', { lag: 0, inFlight: 3 })],
      null,
      {},
      'a/LeastLag',
    ],
    [
      'lag just beyond tolerance does not tie',
      [view('a', { lag: 101, inFlight: 0 }), view('b', { lag: 0, inFlight: 3 })],
      null,
      {},
      'b/LeastLag',
    ],
    [
      'ineligible skipped',
      [view('a', { eligible: false }), view('b', { lag: 2000 })],
      null,
      {},
      'b/LeastLag',
    ],
    [
      'stale probe skipped',
      [view('a', { probedAt: now - 3001 }), view('b', { lag: 2000 })],
      null,
      {},
      'b/LeastLag',
    ],
    [
      'probe exactly staleAfter old still counts',
      [view('a', { probedAt: now - 3000 })],
      null,
      {},
      'a/LeastLag',
    ],
    ['none eligible → primary', [view('a', { eligible: false })], null, {}, 'primary/FallbackPrimary'],
    [
      'none eligible, fail mode',
      [view('a', { eligible: false })],
      null,
      { fallback: 'fail' },
      'fail/NoEligibleReplica',
    ],
    [
      'session write already replayed',
      [view('a', { position: '9' }), view('b', { position: '12', lag: 50 })],
      { position: '11', at: now },
      {},
      'b/WriteReplayed',
    ],
    [
      'session write not replayed → verify on best',
      [view('a', { position: '9' })],
      { position: '11', at: now },
      {},
      'a/VerifyReplay',
    ],
    [
      'session write not replayed, verify off → primary',
      [view('a', { position: '9' })],
      { position: '11', at: now },
      { verifyReplay: false },
      'primary/WriteNotReplayed',
    ],
    [
      'session write without a position → primary',
      [view('a')],
      { position: null, at: now },
      {},
      'primary/WriteNotReplayed',
    ],
    [
      'window mode inside the window',
      [view('a')],
      { position: null, at: now - 4999 },
      { readYourWrites: 'window' },
      'primary/WriteWindow',
    ],
    [
      'window mode after the window',
      [view('a')],
      { position: null, at: now - 5000 },
      { readYourWrites: 'window' },
      'a/LeastLag',
    ],
    [
      'off ignores the write',
      [view('a', { position: '1' })],
      { position: '11', at: now },
      { readYourWrites: 'off' },
      'a/LeastLag',
    ],
  ];
  for (const [name, replicas, write, over, expected] of cases) {
    it(name, () => assert.equal(where(pick(replicas, write, over)), expected));
  }

  it('equal replicas share reads by rotation', () => {
    const replicas = [view('a'), view('b')];
    const seen = [0, 1, 2, 3].map((tie) => where(pick(replicas, null, {}, tie)));
    assert.deepEqual(seen, ['a/LeastLag', 'b/LeastLag', 'a/LeastLag', 'b/LeastLag']);
  });

  it('a retry excludes the replica that failed', () => {
    const a = view('a');
    const b = view('b', { lag: 3000 });
    assert.equal(where(chooseRead([a, b], null, route, now, covers, 0, a)), 'b/LeastLag');
    assert.equal(where(chooseRead([a], null, route, now, covers, 0, a)), 'primary/FallbackPrimary');
  });
});

// The router's windows (holdTime, staleAfter, the read-your-writes window) ran on Date.now by
// default: a step back of the system clock (NTP, a VM resumed, `date -s`) held a caught-up replica
// out for as long as the step, every read on the primary meanwhile. They run on the decision clock
// (src/clock.ts) now. Date.now is replaced here; performance.now is left alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import {
  DatabaseError,
  type ProbeRound,
  type ReplicaDriver,
  ReplicaRouter,
  type WrittenAt,
} from '../../src/replicas/index.js';

type Result = { target: string };

/** LagDriver: one replica `a` whose lag the test sets; every query answers with where it ran. */
class LagDriver implements ReplicaDriver<Result> {
  readonly dialect = 'postgres' as const;
  readonly replicaNames = ['a'];
  lag = 0;
  attach(): void {}
  async prepare(): Promise<void> {}
  async query(target: string): Promise<Result> {
    return { target };
  }
  async transaction<T>(): Promise<T> {
    throw new Error('no transactions here');
  }
  renewProbe(): void {}
  drain(): void {}
  async probe(): Promise<ProbeRound> {
    return {
      primary: { reachable: true, position: '10' },
      replicas: [{ name: 'a', reachable: true, lag: this.lag, position: '10', source: 'test' }],
    };
  }
  async writePosition(): Promise<WrittenAt> {
    return { position: '10', server: null };
  }
  async checkReplayed(): Promise<{ replayed: boolean; position: string | null }> {
    return { replayed: true, position: '10' };
  }
  covers(replayed: string, write: string): boolean {
    return Number(replayed) >= Number(write);
  }
  normalizeError(error: unknown, target: string): DatabaseError {
    return new DatabaseError('REPLICA_QUERY', String(error), { target }, error);
  }
  isRetryableRead(): boolean {
    return false;
  }
  refusedAsWrite(): boolean {
    return false;
  }
  async close(): Promise<void> {}
}

test('a step back of the system clock does not hold a caught-up replica out past holdTime', async (t) => {
  const driver = new LagDriver();
  const router = new ReplicaRouter(driver, { holdTime: 100, probeInterval: 60_000 });
  const real = Date.now;
  t.after(async () => {
    Date.now = real;
    await router.close();
  });
  await router.start();
  driver.lag = 6000;
  await router.probeNow();
  assert.equal((await router.query('SELECT 1')).target, 'primary', 'a replica 6 s behind is left out');
  driver.lag = 0;
  await router.probeNow();
  Date.now = () => real() - 3_600_000;
  // holdTime is 100 ms: probed again for up to 5 s, it is back long before.
  const since = performance.now();
  while (router.status()[0]?.reason === 'Holding' && performance.now() - since < 5_000) {
    await delay(20);
    await router.probeNow();
  }
  const reason = router.status()[0]?.reason;
  Date.now = real;
  assert.notEqual(reason, 'Holding', 'held past holdTime by the step');
  assert.equal((await router.query('SELECT 1')).target, 'a', 'reads go to the caught-up replica again');
});

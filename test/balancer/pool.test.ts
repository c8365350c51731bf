import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BackendInstance, BalancerError } from '../../src/balancer/index.js';
import { Pool } from '../../src/balancer/pool.js';

const ids = (list: readonly { id: string }[]) => list.map((b) => b.id);

test('setInstances: ready ones join, vanished and stopped ones leave, draining ones get no picks', () => {
  const pool = new Pool();
  const first = pool.setInstances([
    { id: 'a', address: '127.0.0.1:1', state: 'ready' },
    { id: 'b', address: '127.0.0.1:2', state: 'ready' },
    { id: 'c', address: '127.0.0.1:3', state: 'starting' },
  ]);
  assert.deepEqual([ids(first.added), ids(first.removed)], [['a', 'b'], []]);
  assert.deepEqual(ids(pool.eligible()), ['a', 'b']);

  const second = pool.setInstances([
    { id: 'a', address: '127.0.0.1:1', state: 'draining' },
    { id: 'c', address: '127.0.0.1:3', state: 'ready' },
  ]);
  assert.deepEqual([ids(second.added), ids(second.removed)], [['c'], ['b']]);
  assert.deepEqual(ids(pool.eligible()), ['c']);
  assert.equal(pool.get('a')?.draining, true);

  const third = pool.setInstances([
    { id: 'a', address: '127.0.0.1:1', state: 'stopping' },
    { id: 'c', address: '127.0.0.1:9', state: 'ready' },
  ]);
  assert.deepEqual(
    [ids(third.added), ids(third.removed)],
    [['c'], ['a', 'c']],
    'a new address replaces the backend',
  );
  assert.equal(pool.get('c')?.port, 9);
});

test('setInstances: an invalid address changes nothing', () => {
  const pool = new Pool();
  pool.setInstances([{ id: 'a', address: '127.0.0.1:1', state: 'ready' }]);
  for (const address of ['nohost', ':80', 'h:0', 'h:99999', 'h:8o']) {
    const bad: BackendInstance[] = [{ id: 'b', address, state: 'ready' }];
    assert.throws(
      () => pool.setInstances(bad),
      (err: unknown) => err instanceof BalancerError && err.code === 'BALANCER_INVALID_ADDRESS',
      address,
    );
  }
  assert.deepEqual(ids(pool.members()), ['a']);
  pool.setInstances([{ id: 'v6', address: '[::1]:8080', state: 'ready' }]);
  assert.deepEqual([pool.get('v6')?.host, pool.get('v6')?.port], ['::1', 8080]);
});

test('eligible: unhealthy members are skipped until healthy again', () => {
  const pool = new Pool();
  pool.setInstances([
    { id: 'a', address: '127.0.0.1:1', state: 'ready' },
    { id: 'b', address: '127.0.0.1:2', state: 'ready' },
  ]);
  assert.equal(pool.setHealthy('a', false), true);
  assert.equal(pool.setHealthy('a', false), false);
  assert.deepEqual(ids(pool.eligible()), ['b']);
  pool.setHealthy('a', true);
  assert.deepEqual(ids(pool.eligible()), ['a', 'b']);
});

test('drain: resolves at once when idle, else when the last request is released', async () => {
  const pool = new Pool();
  pool.setInstances([{ id: 'a', address: '127.0.0.1:1', state: 'ready' }]);
  await pool.drain('missing');
  const a = pool.get('a')!;
  pool.acquire(a);
  pool.acquire(a);
  let drained = false;
  const drain = pool.drain('a').then(() => {
    drained = true;
  });
  assert.deepEqual(ids(pool.eligible()), []);
  pool.release(a);
  await Promise.resolve();
  assert.equal(drained, false);
  pool.release(a);
  await drain;
  assert.equal(drained, true);
  await pool.drain('a');
});

test('drain: gives up after drainTimeout and says so', async () => {
  const timedOut: string[] = [];
  const pool = new Pool({ drainTimeout: 5, onDrainTimeout: (b) => timedOut.push(b.id) });
  pool.setInstances([{ id: 'a', address: '127.0.0.1:1', state: 'ready' }]);
  pool.acquire(pool.get('a')!);
  // The drain timer is unref'd (it must not keep a process up): hold the loop open while we wait.
  const hold = setInterval(() => {}, 1000);
  try {
    await pool.drain('a');
  } finally {
    clearInterval(hold);
  }
  assert.deepEqual(timedOut, ['a']);
});

// Cluster mode: a data-path worker that dies and is replaced keeps honouring the drains this
// (controller) process applied. AWS and Kubernetes list an instance being drained for a scale-in or
// a replacement as ready until it stops, so the drain itself is the only thing that keeps new
// requests off it.
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { once } from 'node:events';
import http from 'node:http';
import { type TestContext, test } from 'node:test';
import { Balancer } from '../../src/balancer/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { until, within } from '../helpers/until.js';
import { config, ready, startBackend } from './helpers.js';

/** post sends a POST with a body and resolves with the status (0 when the connection failed). */
function post(agent: http.Agent, port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/order', method: 'POST', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
    req.end('{"item":1}');
  });
}

/**
 * setUp runs a 2-worker balancer over `a` (answers at once) and `b`, which holds every request it
 * gets until the test stops it, as an instance stopped after its drain does with what it still had.
 */
async function setUp(t: TestContext) {
  const a = await startBackend(t, (_req, res) => res.end('a'));
  const held: http.ServerResponse[] = [];
  const b = await startBackend(t, (req, res) => {
    req.resume();
    held.push(res);
  });
  const balancer = new Balancer({
    // The request and drain timeouts outlast the test's own waits (20 s each): a POST held by b
    // across a worker's replacement got a 504 at the helper's 10 s on a loaded machine (fresh CI,
    // load 13), where the drain, not a timeout, is what the test is about.
    config: config({ workers: 2, requestTimeout: 90_000, drainTimeout: 90_000 }),
    metrics: createMetrics({ defaultMetrics: false }),
  });
  t.after(() => balancer.close());
  // A provider's listing while it drains b for a scale-in: b is still ready there.
  balancer.setGroup('web', ready(['a', a.address], ['b', b.address]));
  const { port } = await balancer.listen();
  const agent = new http.Agent({ keepAlive: false });
  /** stopB does what the provider does once the drain resolved: the instance goes, with what it held. */
  const stopB = () => {
    for (const res of held) res.socket?.destroy();
    b.server.closeAllConnections();
    b.server.close();
  };
  return { a, b, held, balancer, port, agent, stopB };
}

/** killAndReplace kills each worker alive now with SIGKILL, one at a time, until its replacement listens. */
async function killAndReplace(): Promise<void> {
  const originals = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
  assert.equal(originals.length, 2, 'two workers before the kills');
  for (const worker of originals) {
    // The next kill only once the replacement listens: the port closes when no worker holds it.
    const listening = once(cluster, 'listening');
    worker.process.kill('SIGKILL');
    await listening;
  }
}

/** load sends `n` POSTs at once and waits until each was answered or is held by b. */
async function load(s: Awaited<ReturnType<typeof setUp>>, n: number): Promise<Promise<number>[]> {
  const aBefore = s.a.requests;
  const heldBefore = s.held.length;
  const replies = Array.from({ length: n }, () => post(s.agent, s.port));
  await until(
    () => s.a.requests - aBefore + s.held.length - heldBefore === n,
    30_000,
    `all ${n} POSTs reached a backend`,
  );
  return replies;
}

test('workers: a worker killed after a drain is replaced without the drained instance; no POST lost when it stops', async (t) => {
  const s = await setUp(t);
  await within('drain of b (nothing in flight)', 20_000, s.balancer.drain('web', 'b'));
  await killAndReplace();

  const n = 20;
  const replies = await load(s, n);
  const toB = s.held.length;
  s.stopB();
  const statuses = await Promise.all(replies);
  const failed = statuses.filter((status) => status !== 200).length;
  assert.equal(
    toB,
    0,
    `the replacement workers sent ${toB} of ${n} new POSTs to b, drained before they started`,
  );
  assert.equal(
    failed,
    0,
    `${failed} of ${n} POSTs failed when drained b stopped (statuses ${statuses.join(',')})`,
  );
});

test('workers: a drain asked while a worker is being replaced reaches the replacement and resolves', async (t) => {
  const s = await setUp(t);
  const [victim, other] = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
  assert.ok(victim !== undefined && other !== undefined, 'two workers before the kills');
  // The drain starts the moment the replacement is forked, before it has booted.
  const forked = once(cluster, 'fork');
  const listening = once(cluster, 'listening');
  victim.process.kill('SIGKILL');
  await forked;
  const drained = s.balancer.drain('web', 'b');
  await listening;
  await within('drain of b asked while a worker was being replaced', 20_000, drained);
  // The other original worker too: every request now goes through a worker that booted meanwhile or after.
  const relisten = once(cluster, 'listening');
  other.process.kill('SIGKILL');
  await relisten;

  const n = 20;
  const replies = await load(s, n);
  const toB = s.held.length;
  s.stopB();
  const statuses = await Promise.all(replies);
  const failed = statuses.filter((status) => status !== 200).length;
  assert.equal(toB, 0, `workers sent ${toB} of ${n} new POSTs to b after its drain resolved`);
  assert.equal(
    failed,
    0,
    `${failed} of ${n} POSTs failed when drained b stopped (statuses ${statuses.join(',')})`,
  );
});

test('workers: a worker that answered a drain and then dies does not end the drain another worker still waits on', async (t) => {
  const s = await setUp(t);
  // One POST held by b: exactly one worker has a request in flight there.
  let first: Promise<number> | undefined;
  for (let i = 0; i < 20 && s.held.length === 0; i++) {
    const reply = post(s.agent, s.port);
    // Answered by a, or held by b: either way it reached a backend.
    const aBefore = s.a.requests;
    await until(() => s.a.requests > aBefore || s.held.length > 0, 30_000, 'the POST reached a backend');
    if (s.held.length > 0) first = reply;
    else assert.equal(await reply, 200, 'a POST answered by a');
  }
  assert.ok(first !== undefined && s.held.length === 1, 'b holds one POST');
  const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
  assert.equal(workers.length, 2, 'two workers');
  const answered = new Promise<(typeof workers)[number]>((resolve) => {
    for (const worker of workers)
      worker.on('message', (message: { t?: string }) => {
        if (message.t === 'drained') resolve(worker);
      });
  });
  let resolved = false;
  // What a provider does: the instance stops once its drain resolved.
  const drained = s.balancer.drain('web', 'b').then(() => {
    resolved = true;
    s.stopB();
  });
  // The worker with nothing on b answers at once; it then dies and is replaced.
  const idle = await within('the idle worker answered the drain', 20_000, answered);
  const listening = once(cluster, 'listening');
  idle.process.kill('SIGKILL');
  await listening;
  if (resolved) {
    const status = await first;
    assert.fail(
      `the drain resolved while the other worker still had a POST in flight on b; b stopped, that POST got ${status}`,
    );
  }
  // b answers what it held: the drain ends, and the POST succeeded.
  for (const res of s.held.splice(0)) res.end('b');
  await within('drain of b once its POST is answered', 20_000, drained);
  assert.equal(await first, 200, 'the POST in flight on b during its drain');
});

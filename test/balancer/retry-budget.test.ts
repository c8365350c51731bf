// The retry budget is spent on retries that are made, not on ones with nowhere to go.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { config, ready, refusedAddress, send, startBackend, startBalancer } from './helpers.js';

test('a failure with no other instance to retry on spends no retry budget', async (t) => {
  const dead = await refusedAddress();
  const live = await startBackend(t, (_req, res) => res.end('live'));
  // A budget of one retry in the window.
  const { balancer, port } = await startBalancer(
    t,
    config({ algorithm: 'round-robin', retryBudget: { percent: 0, minPerSecond: 0.1 } }),
  );
  balancer.setGroup('web', ready(['dead', dead]));
  const alone = await send(port);
  assert.equal(alone.status, 502, 'the only instance refuses: nothing to retry on');
  // Another instance joins; round-robin's next pick is still the refusing one.
  balancer.setGroup('web', ready(['dead', dead], ['live', live.address]));
  const reply = await send(port);
  assert.equal(
    reply.status,
    200,
    `refused by dead with live beside it, the request got ${reply.status} ${reply.body}: the budget's one retry went to the earlier request, which retried nothing`,
  );
  assert.equal(live.requests, 1);
});

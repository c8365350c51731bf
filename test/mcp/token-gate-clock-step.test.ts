// The MCP gate lets an accepted token in without asking the API again for a few seconds (its TTL).
// The TTL ran on Date.now: a step back of the system clock (NTP, a VM resumed, `date -s`) let a
// token accepted before it in for as long as the step, revoked or not (its requests' bodies read
// and parsed). Date.now is replaced here; performance.now is left alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type ControlApi, McpError, TokenGate } from '../../src/mcp/index.js';

test('a step back of the system clock does not keep a revoked token let in past the TTL', async (t) => {
  let revoked = false;
  const api = (): ControlApi => ({
    async request<T>(): Promise<T> {
      if (revoked)
        throw new McpError('MCP_API_ERROR', '401: missing or invalid bearer token', { status: 401 });
      return { events: [] } as T;
    },
  });
  // Replaced before the gate is made, which may keep a reference to it, as to the system clock.
  const real = Date.now;
  let step = 0;
  Date.now = () => real() - step;
  t.after(() => {
    Date.now = real;
  });
  const gate = new TokenGate({ apiUrl: 'http://127.0.0.1:1', acceptedTtlMs: 50, api });
  assert.deepEqual(await gate.check('token'), { ok: true }, 'accepted, and remembered for 50 ms');
  step = 3_600_000;
  revoked = true;
  // Past the TTL by the monotonic clock: the gate asks the API again, which refuses the token.
  const since = performance.now();
  while (performance.now() - since < 60) await delay(60 - (performance.now() - since));
  const verdict = await gate.check('token');
  Date.now = real;
  assert.deepEqual(verdict.ok ? 'let in' : [verdict.status, verdict.reason], [401, 'Rejected']);
});

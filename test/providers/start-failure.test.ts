// startTimeoutReason: why a running instance never became ready, from one TCP connect at the
// timeout and the last readiness probe. Table of cases, each with the message a user acts on.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startTimeoutReason } from '../../src/providers/local/start-failure.js';

const base = {
  address: '127.0.0.1:4100',
  portEnv: 'PORT',
  healthPath: '/healthz',
  timeoutMs: 5000,
  lastProbe: undefined,
} as const;

describe('startTimeoutReason', () => {
  test('a closed port, a failing health check, a listener that never answers', () => {
    const cases: [Partial<Parameters<typeof startTimeoutReason>[0]>, string, string | undefined][] = [
      [
        { port: 'refused', lastProbe: { error: 'ECONNREFUSED' } },
        'nothing listens on 127.0.0.1:4100 after 5000 ms',
        'the app must listen on $PORT',
      ],
      [
        { port: 'refused', portEnv: 'HTTP_PORT' },
        'nothing listens on 127.0.0.1:4100 after 5000 ms',
        'the app must listen on $HTTP_PORT',
      ],
      [
        { port: 'open', lastProbe: { status: 404 } },
        'listens on 127.0.0.1:4100 but /healthz answered 404, not 2xx/3xx, for 5000 ms',
        undefined,
      ],
      [
        { port: 'open', lastProbe: { error: 'TIMEOUT' } },
        'listens on 127.0.0.1:4100 but did not answer /healthz within 5000 ms',
        undefined,
      ],
      // Its health path answers, only slower than a probe waits: the fix is a longer timeout.
      [
        { port: 'open', lastProbe: { error: 'TIMEOUT' }, probeTimeoutMs: 1000 },
        'listens on 127.0.0.1:4100 but /healthz did not answer within 1000 ms (balancer.health.timeout), probed for 5000 ms',
        'raise balancer.health.timeout if /healthz takes longer',
      ],
      // It began listening just now: the last probe was refused, the connect is not.
      [
        { port: 'open', lastProbe: { error: 'ECONNREFUSED' } },
        'listens on 127.0.0.1:4100 but did not answer /healthz within 5000 ms',
        undefined,
      ],
      [{ port: 'unanswered' }, 'did not answer /healthz within 5000 ms', undefined],
    ];
    for (const [input, message, hint] of cases) {
      const reason = startTimeoutReason({ ...base, port: 'open', ...input });
      assert.equal(reason.message, message, JSON.stringify(input));
      assert.equal(reason.hint, hint, JSON.stringify(input));
    }
  });
});

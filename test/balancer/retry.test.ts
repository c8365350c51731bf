import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  classifyUpstreamError,
  type RetryInput,
  type RetryReason,
  retryDecision,
} from '../../src/balancer/index.js';

const base: RetryInput = {
  method: 'GET',
  failure: 'reset',
  reusedSocket: true,
  hasBody: false,
  bodyStarted: false,
  responseStarted: false,
  idempotencyKey: false,
  retries: 0,
  maxRetries: 2,
};

test('retryDecision: only requests no backend can have acted on are repeated', () => {
  const cases: { name: string; input: Partial<RetryInput>; retry: boolean; reason: RetryReason }[] = [
    { name: 'GET on stale keep-alive socket', input: {}, retry: true, reason: 'StaleKeepAlive' },
    { name: 'HEAD stale', input: { method: 'HEAD' }, retry: true, reason: 'StaleKeepAlive' },
    { name: 'OPTIONS stale', input: { method: 'OPTIONS' }, retry: true, reason: 'StaleKeepAlive' },
    { name: 'PUT stale, no body', input: { method: 'PUT' }, retry: true, reason: 'StaleKeepAlive' },
    { name: 'DELETE stale', input: { method: 'DELETE' }, retry: true, reason: 'StaleKeepAlive' },
    { name: 'POST stale', input: { method: 'POST' }, retry: false, reason: 'NotIdempotent' },
    { name: 'PATCH stale', input: { method: 'PATCH' }, retry: false, reason: 'NotIdempotent' },
    {
      name: 'POST stale with Idempotency-Key',
      input: { method: 'POST', idempotencyKey: true },
      retry: true,
      reason: 'StaleKeepAlive',
    },
    { name: 'PUT stale with body', input: { method: 'PUT', hasBody: true }, retry: false, reason: 'HasBody' },
    {
      name: 'PUT stale with its body kept',
      input: { method: 'PUT', hasBody: true, bodyStarted: true, bodyReplayable: true },
      retry: true,
      reason: 'StaleKeepAlive',
    },
    {
      name: 'POST with key, its body kept, reset on a fresh socket',
      input: {
        method: 'POST',
        idempotencyKey: true,
        hasBody: true,
        bodyStarted: true,
        bodyReplayable: true,
        reusedSocket: false,
      },
      retry: true,
      reason: 'IdempotentReset',
    },
    {
      name: 'POST with its body kept: still not idempotent',
      input: { method: 'POST', hasBody: true, bodyStarted: true, bodyReplayable: true },
      retry: false,
      reason: 'NotIdempotent',
    },
    {
      name: 'PUT with its body kept, a timeout not from the per-try timer',
      input: { method: 'PUT', hasBody: true, bodyStarted: true, bodyReplayable: true, failure: 'timeout' },
      retry: false,
      reason: 'NotRetriable',
    },
    {
      name: 'POST with key and body',
      input: { method: 'POST', idempotencyKey: true, hasBody: true },
      retry: false,
      reason: 'HasBody',
    },
    {
      name: 'GET reset on fresh socket (instance died): idempotent, retried',
      input: { reusedSocket: false },
      retry: true,
      reason: 'IdempotentReset',
    },
    {
      name: 'DELETE reset on fresh socket',
      input: { method: 'DELETE', reusedSocket: false },
      retry: true,
      reason: 'IdempotentReset',
    },
    {
      name: 'POST reset on fresh socket',
      input: { method: 'POST', reusedSocket: false },
      retry: false,
      reason: 'FreshConnectionReset',
    },
    {
      name: 'GET connect refused',
      input: { failure: 'connect', reusedSocket: false },
      retry: true,
      reason: 'ConnectFailed',
    },
    {
      name: 'POST with body, connect refused',
      input: { method: 'POST', hasBody: true, failure: 'connect', reusedSocket: false },
      retry: true,
      reason: 'ConnectFailed',
    },
    {
      name: 'body already streamed',
      input: { method: 'PUT', hasBody: true, bodyStarted: true, failure: 'connect' },
      retry: false,
      reason: 'BodyStreamed',
    },
    {
      name: 'response started',
      input: { responseStarted: true, failure: 'connect' },
      retry: false,
      reason: 'ResponseStarted',
    },
    {
      name: 'last retry used',
      input: { failure: 'connect', retries: 2 },
      retry: false,
      reason: 'RetryLimit',
    },
    {
      name: 'one retry left',
      input: { failure: 'connect', retries: 1 },
      retry: true,
      reason: 'ConnectFailed',
    },
    { name: 'timeout', input: { failure: 'timeout' }, retry: false, reason: 'NotRetriable' },
    // per_try_timeout: a try with no response headers in time, retried where a reset would be.
    {
      name: 'GET cut by the per-try timeout',
      input: { failure: 'timeout', perTryTimeout: true, reusedSocket: false },
      retry: true,
      reason: 'TryTimedOut',
    },
    {
      name: 'DELETE cut by the per-try timeout, on a reused socket',
      input: { method: 'DELETE', failure: 'timeout', perTryTimeout: true },
      retry: true,
      reason: 'TryTimedOut',
    },
    {
      name: 'POST cut by the per-try timeout',
      input: { method: 'POST', failure: 'timeout', perTryTimeout: true, reusedSocket: false },
      retry: false,
      reason: 'NotIdempotent',
    },
    {
      name: 'POST with Idempotency-Key cut by the per-try timeout',
      input: { method: 'POST', idempotencyKey: true, failure: 'timeout', perTryTimeout: true },
      retry: true,
      reason: 'TryTimedOut',
    },
    {
      name: 'PUT with body cut by the per-try timeout',
      input: { method: 'PUT', hasBody: true, bodyStarted: true, failure: 'timeout', perTryTimeout: true },
      retry: false,
      reason: 'BodyStreamed',
    },
    {
      name: 'PUT with its body kept, cut by the per-try timeout',
      input: {
        method: 'PUT',
        hasBody: true,
        bodyStarted: true,
        bodyReplayable: true,
        failure: 'timeout',
        perTryTimeout: true,
      },
      retry: true,
      reason: 'TryTimedOut',
    },
    {
      name: 'GET cut by the per-try timeout, last retry used',
      input: { failure: 'timeout', perTryTimeout: true, retries: 2 },
      retry: false,
      reason: 'RetryLimit',
    },
    {
      name: 'GET cut by the per-try timeout, budget spent',
      input: { failure: 'timeout', perTryTimeout: true, budgetAvailable: () => false },
      retry: false,
      reason: 'RetryBudgetExhausted',
    },
    { name: 'other error', input: { failure: 'other' }, retry: false, reason: 'NotRetriable' },
  ];
  for (const { name, input, retry, reason } of cases) {
    assert.deepEqual(retryDecision({ ...base, ...input }), { retry, reason }, name);
  }
});

test('classifyUpstreamError: by code only', () => {
  const cases: [code: unknown, want: string][] = [
    ['ECONNREFUSED', 'connect'],
    ['EHOSTUNREACH', 'connect'],
    ['ENETUNREACH', 'connect'],
    ['ENOTFOUND', 'connect'],
    ['ECONNRESET', 'reset'],
    ['EPIPE', 'reset'],
    ['UND_ERR_SOCKET', 'reset'],
    ['UND_ERR_CONNECT_TIMEOUT', 'connect'],
    ['UND_ERR_HEADERS_OVERFLOW', 'other'],
    ['ETIMEDOUT', 'timeout'],
    ['HPE_INVALID_CONSTANT', 'other'],
    [undefined, 'other'],
    [42, 'other'],
  ];
  for (const [code, want] of cases) {
    assert.equal(classifyUpstreamError(Object.assign(new Error('x'), { code })), want, String(code));
  }
  assert.equal(classifyUpstreamError(null), 'other');
});

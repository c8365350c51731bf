// Whose is a request timeout with no response started? A client that stops sending its body gets
// a 408, as NGINX (client_body_timeout) and Envoy (its route timeout starts once the request is
// whole) answer it, and no upstream error is counted: no backend failed. A backend that had the
// whole request and sends nothing gets the client a 504, an upstream timeout. Real sockets on
// 127.0.0.1; the client is a raw socket so that it can stop mid-body.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { type RequestTimeoutInput, requestTimeoutVerdict } from '../../src/balancer/request-timeout.js';
import type { ScaleplaneMetrics } from '../../src/metrics/index.js';
import { config, ready, startBackend, startBalancer } from './helpers.js';

test('requestTimeoutVerdict: 408 only when the backend was taking a body the client stopped sending (pure)', () => {
  const base: RequestTimeoutInput = {
    hasBody: true,
    bodyStarted: true,
    requestComplete: false,
    bodyBackpressured: false,
  };
  const cases: Array<[name: string, input: RequestTimeoutInput, reason: string, status: number]> = [
    ['client stopped mid-body', base, 'ClientBodyStalled', 408],
    ['the whole body arrived', { ...base, requestComplete: true }, 'UpstreamTimeout', 504],
    ['the backend stopped reading the body', { ...base, bodyBackpressured: true }, 'UpstreamTimeout', 504],
    ['the connection never opened', { ...base, bodyStarted: false }, 'UpstreamTimeout', 504],
    [
      'bodiless',
      { ...base, hasBody: false, bodyStarted: false, requestComplete: true },
      'UpstreamTimeout',
      504,
    ],
  ];
  for (const [name, input, reason, status] of cases) {
    const verdict = requestTimeoutVerdict(input);
    assert.equal(verdict.reason, reason, name);
    assert.equal(verdict.status, status, name);
  }
});

/** rawExchange writes `request` on a raw connection and resolves with all it got once it closes. */
async function rawExchange(t: TestContext, port: number, request: string): Promise<string> {
  const client = net.connect(port, '127.0.0.1');
  t.after(() => client.destroy());
  await once(client, 'connect');
  let got = '';
  client.on('data', (chunk: Buffer) => {
    got += chunk.toString('latin1');
  });
  client.on('error', () => {});
  client.write(request);
  await once(client, 'close');
  return got;
}

async function timeoutErrors(metrics: ScaleplaneMetrics): Promise<number> {
  const errors = await metrics.upstreamErrors.get();
  return errors.values.filter((v) => v.labels.kind === 'timeout').reduce((sum, v) => sum + v.value, 0);
}

test('a client that stops mid-body gets a 408 and closes; no upstream timeout is counted', async (t) => {
  let received = 0;
  const backend = await startBackend(t, (req) => {
    // Reads all it is sent and never answers: the client is the one that stops.
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
  });
  const { balancer, metrics, port } = await startBalancer(t, config({ requestTimeout: 300 }));
  balancer.setGroup('web', ready(['b', backend.address]));
  // 3 of 10 declared bytes, then nothing more.
  const got = await rawExchange(t, port, 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
  const head = got.split('\r\n\r\n')[0] ?? '';
  // Before: 504 {"error":"upstream timed out"} and upstream_errors{kind="timeout"} 1.
  assert.match(head, /^HTTP\/1\.1 408 /, `the client got ${JSON.stringify(got)}`);
  assert.match(head, /\r\nConnection: close\r\n/i, 'the connection closes after the 408');
  assert.match(got, /request body not received in time/, 'the body says what was missing');
  assert.equal(await timeoutErrors(metrics), 0, 'no upstream timeout counted');
  assert.ok(received <= 3, `the backend got ${received} bytes`);
});

test('a backend that had the whole request and never answers gets the client a 504, an upstream timeout', async (t) => {
  const backend = await startBackend(t, (req) => req.resume());
  const { balancer, metrics, port } = await startBalancer(t, config({ requestTimeout: 300 }));
  balancer.setGroup('web', ready(['b', backend.address]));
  const got = await rawExchange(
    t,
    port,
    'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc',
  );
  assert.match(got, /^HTTP\/1\.1 504 /, `the client got ${JSON.stringify(got)}`);
  assert.match(got, /upstream timed out/, 'the body names the upstream timeout');
  assert.equal(await timeoutErrors(metrics), 1, 'one upstream timeout counted');
});

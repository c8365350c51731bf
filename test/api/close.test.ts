// Closing the API must not wait on clients' keep-alive: a connection whose request was in flight
// at close() stayed open after the answer until the keep-alive timeout, so close() (and every
// shutdown of `scaleplane up` while a dashboard or CLI polled) took Node's 5 s more. Here the
// timeout is 120 s, so a regression hangs this test into its own timeout. Real HTTP on 127.0.0.1.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { describe, it } from 'node:test';
import { Gauge } from 'prom-client';
import { startApi, TOKEN } from '../helpers/api-harness.js';

describe('closing the API with keep-alive clients', () => {
  it('a request in flight at close() is answered with Connection: close, and close() does not wait for the client', {
    timeout: 30_000,
  }, async (t) => {
    const api = await startApi({ server: { keepAliveTimeoutMs: 120_000 } });
    // A scrape that waits for the gate: the request is in flight until the test opens it.
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    let collecting!: () => void;
    const collectStarted = new Promise<void>((resolve) => {
      collecting = resolve;
    });
    new Gauge({
      name: 'test_gated',
      help: 'waits for the test',
      registers: [api.metrics.registry],
      async collect() {
        collecting();
        await gate;
        this.set(1);
      },
    });
    const agent = new http.Agent({ keepAlive: true });
    t.after(() => agent.destroy());
    const response = new Promise<http.IncomingMessage>((resolve, reject) => {
      http
        .get(
          {
            host: '127.0.0.1',
            port: api.port,
            path: '/metrics',
            agent,
            headers: { authorization: `Bearer ${TOKEN}` },
          },
          resolve,
        )
        .on('error', reject);
    });
    await collectStarted;
    const closed = api.close();
    openGate();
    const res = await response;
    res.resume();
    await once(res, 'end');
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers.connection, 'close');
    await closed;
  });

  it('a live stream open at close() ends', { timeout: 30_000 }, async (t) => {
    const api = await startApi({ server: { keepAliveTimeoutMs: 120_000 } });
    const agent = new http.Agent({ keepAlive: true });
    t.after(() => agent.destroy());
    const stream = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http
        .get(
          {
            host: '127.0.0.1',
            port: api.port,
            path: '/api/scalability/stream',
            agent,
            headers: { authorization: `Bearer ${TOKEN}` },
          },
          resolve,
        )
        .on('error', reject);
    });
    assert.equal(stream.statusCode, 200);
    stream.resume();
    const ended = once(stream, 'end');
    await api.close();
    await ended;
  });
});

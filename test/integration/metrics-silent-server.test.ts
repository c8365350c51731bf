// A queue source whose endpoint accepts the connection and then says nothing (a broker stopped
// behind a proxy or load balancer, SIGSTOP): the read fails on its own timeout and the next read
// opens a new connection. Before, the RabbitMQ (AMQP) and Redis reads waited forever: the poller
// counted the metric missing after 6 s, but started no other read while that one hung, so the
// metric stayed missing once the server was back. A plain TCP server stands in for the silent
// endpoint; the real brokers then show the next read works.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import {
  type MetricSource,
  MetricSourceError,
  RabbitMqSource,
  RedisSource,
} from '../../src/metrics/index.js';

/** silentServer accepts connections and never writes a byte; `accepted` counts them. */
async function silentServer(): Promise<{
  server: Server;
  port: number;
  accepted: () => number;
  close(): void;
}> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    socket.on('error', () => {});
    sockets.push(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    server,
    port,
    accepted: () => sockets.length,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/**
 * failsAlone asserts that `source.read()` rejects by itself with a timeout error. A guard far
 * above the source's timeout keeps a read that hangs (as before) from hanging the test.
 */
async function failsAlone(source: MetricSource, what: RegExp): Promise<void> {
  let guard: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => {
    guard = setTimeout(() => resolve('hung'), 20_000);
  });
  const outcome = await Promise.race([
    source.read({ group: 'workers', instances: [], now: 0 }).then(
      (values) => values,
      (err: unknown) => err,
    ),
    hung,
  ]);
  clearTimeout(guard);
  assert.notEqual(outcome, 'hung', 'the read still waited on the silent server after 20 s');
  assert.ok(outcome instanceof MetricSourceError, `expected a MetricSourceError, got ${String(outcome)}`);
  assert.equal(outcome.code, 'SOURCE_FAILED');
  assert.match(outcome.message, what);
}

describe('queue sources against a server that accepts and says nothing', () => {
  const cleanup: (() => unknown)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('rabbitmq (AMQP): the read times out, and the next one connects again', async () => {
    const silent = await silentServer();
    cleanup.push(() => silent.close());
    const source = new RabbitMqSource({ url: `amqp://127.0.0.1:${silent.port}`, queue: 'q', timeout: 1000 });
    cleanup.push(() => source.close());
    await failsAlone(source, /rabbitmq queue q: (no answer within 1000 ms|connect ETIMEDOUT)/);
    await failsAlone(source, /rabbitmq queue q: (no answer within 1000 ms|connect ETIMEDOUT)/);
    assert.equal(silent.accepted(), 2, 'the second read opened a new connection');
    // The real broker: the same source type reads.
    const queue = `scaleplane-silent-${randomUUID().slice(0, 8)}`;
    const real = new RabbitMqSource({ url: 'amqp://guest:guest@127.0.0.1:5672', queue, timeout: 1000 });
    cleanup.push(() => real.close());
    await assert.rejects(real.read(), /NOT_FOUND|404/, 'no such queue, answered');
  });

  it('redis: the read times out, and the next one connects again', async () => {
    const silent = await silentServer();
    cleanup.push(() => silent.close());
    const source = new RedisSource({ url: `redis://127.0.0.1:${silent.port}`, key: 'k', timeout: 1000 });
    cleanup.push(() => source.close());
    await failsAlone(source, /redis k: no answer within 1000 ms/);
    await failsAlone(source, /redis k: no answer within 1000 ms/);
    assert.equal(silent.accepted(), 2, 'the second read opened a new connection');
    const real = new RedisSource({
      url: 'redis://127.0.0.1:6379',
      key: `scaleplane-silent-${randomUUID()}`,
      timeout: 1000,
    });
    cleanup.push(() => real.close());
    assert.deepEqual(await real.read(), [0], 'the real server answers');
  });
});

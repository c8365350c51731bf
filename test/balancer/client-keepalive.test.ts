// Idle HTTP/1.1 client connections stay open for balancer.client_keepalive_timeout, 75 s unless set
// (NGINX's keepalive_timeout). It was Node's 5 s, below the idle timeout of the load balancers put
// in front (AWS ALB 60 s): such a balancer sends a request on a connection it believes open just as
// Scaleplane closes it, and answers its own client 502. Raw sockets on 127.0.0.1.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Balancer, BalancerError } from '../../src/balancer/index.js';
import { parseConfig } from '../../src/config/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { config, ready, startBackend, startBalancer } from './helpers.js';

/** KeptConnection is a raw client connection that reads one response at a time. */
async function connect(t: TestContext, port: number) {
  const socket = net.connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  socket.setEncoding('latin1');
  let buffered = '';
  socket.on('data', (chunk: string) => {
    buffered += chunk;
  });
  const closed = once(socket, 'close').then(() => 'closed' as const);
  /** get sends a GET and resolves with the head of its response (the body is `ok`, 2 bytes). */
  const get = async (): Promise<string> => {
    socket.write('GET / HTTP/1.1\r\nHost: app.example\r\n\r\n');
    while (!(buffered.includes('\r\n\r\n') && buffered.endsWith('ok'))) {
      const got = await Promise.race([once(socket, 'data').then(() => 'data' as const), closed]);
      assert.notEqual(got, 'closed', `the balancer closed the connection; read so far: ${buffered}`);
    }
    const head = buffered.slice(0, buffered.indexOf('\r\n\r\n'));
    buffered = '';
    return head;
  };
  return { socket, get, closed };
}

async function okBackend(t: TestContext) {
  return startBackend(t, (_req, res) => {
    res.setHeader('content-length', 2);
    res.end('ok');
  });
}

test('by default an idle client connection is kept 75 s, and says so', async (t) => {
  const backend = await okBackend(t);
  const { balancer, port } = await startBalancer(t, config());
  balancer.setGroup('web', ready(['a', backend.address]));
  const client = await connect(t, port);
  const head = await client.get();
  assert.match(head, /^HTTP\/1\.1 200/);
  assert.match(head, /\r\nKeep-Alive: timeout=75\r?$/im, `the response head: ${head}`);
  // Past Node's 5 s: nothing happens on the connection, so nothing but time can be awaited.
  const after = await Promise.race([client.closed, delay(6_500).then(() => 'open' as const)]);
  assert.equal(after, 'open', 'the idle connection was closed before 6.5 s');
  assert.match(await client.get(), /^HTTP\/1\.1 200/, 'and it carries the next request');
});

test('client_keepalive_timeout set: an idle client connection closes after it', async (t) => {
  const backend = await okBackend(t);
  const { balancer, port } = await startBalancer(t, config({ clientKeepAliveTimeout: 1_000 }));
  balancer.setGroup('web', ready(['a', backend.address]));
  const client = await connect(t, port);
  assert.match(await client.get(), /\r\nKeep-Alive: timeout=1\r?$/im);
  assert.equal(await client.closed, 'closed');
});

test('client_keepalive_timeout: 75s by default, positive, refused in code at 0', () => {
  const parse = (...balancer: string[]) =>
    parseConfig(`balancer:\n${balancer.join('\n')}\ngroups:\n  web:\n    command: node server.js\n`, {
      baseDir: '/srv/app',
    });
  assert.equal(parse('  listen: 127.0.0.1:8080').balancer.clientKeepAliveTimeout, 75_000);
  assert.equal(parse('  client_keepalive_timeout: 65s').balancer.clientKeepAliveTimeout, 65_000);
  assert.throws(
    () => parse('  client_keepalive_timeout: 0s'),
    (err: unknown) =>
      (err as { issues?: { path: string }[] }).issues?.some(
        (i) => i.path === 'balancer.client_keepalive_timeout',
      ) === true,
  );
  assert.throws(
    () =>
      new Balancer({
        config: config({ clientKeepAliveTimeout: 0 }),
        metrics: createMetrics({ defaultMetrics: false }),
      }),
    (err: unknown) =>
      err instanceof BalancerError &&
      err.code === 'BALANCER_INVALID_ARGUMENT' &&
      /clientKeepAliveTimeout must be > 0 ms, got 0/.test(err.message),
  );
});

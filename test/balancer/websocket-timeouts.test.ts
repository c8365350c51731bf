// The timers of a proxied WebSocket, as NGINX's: `per_try_timeout` cuts a handshake a backend took
// but never answered (retried elsewhere as a bodiless GET is, else a 504), and an open tunnel over
// which neither side sent anything for `websocket_idle_timeout` is closed, both its connections
// (NGINX's proxy_read_timeout on an upgraded connection). Before, an upgrade had no per-try timer
// (a silent backend cost the whole request_timeout) and an open tunnel none at all. Real backends
// and raw clients on 127.0.0.1; a request_timeout of 20 s, so that only the timer under test can
// end anything within the bounded waits.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import type { Ejection } from '../../src/balancer/index.js';
import {
  config,
  counter,
  deferred,
  ready,
  startBackend,
  startBalancer,
  startBlackhole,
  type TestBackend,
} from './helpers.js';

const HANDSHAKE =
  'GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
const SWITCH = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';

/** BOUND is how long a test waits for an event the timer under test must bring (far above it). */
const BOUND = 8_000;

/**
 * within resolves with `event` or with 'not within BOUND' when it did not come by then: a bound
 * on the wait, not a stand-in for the event.
 */
async function within<T>(event: Promise<T>, ms = BOUND): Promise<T | 'not within bound'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      event,
      new Promise<'not within bound'>((resolve) => {
        timer = setTimeout(() => resolve('not within bound'), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** hungBackend takes upgrade handshakes and never answers them; `upgrades` counts those it got. */
async function hungBackend(t: TestContext): Promise<TestBackend & { upgrades: number }> {
  const backend = Object.assign(await startBackend(t, () => {}), { upgrades: 0 });
  const held: net.Socket[] = [];
  backend.server.on('upgrade', (_req, socket: net.Socket) => {
    backend.upgrades++;
    socket.on('error', () => {});
    held.push(socket);
  });
  t.after(() => {
    for (const socket of held) socket.destroy();
  });
  return backend;
}

/** TunnelEnd is the backend's side of an open tunnel; `closed`: the balancer ended or reset it. */
interface TunnelEnd {
  socket: net.Socket;
  closed: Promise<unknown>;
}

/** tunnelBackend answers every handshake with a 101 and hands its side of the tunnel to the test. */
async function tunnelBackend(
  t: TestContext,
): Promise<{ backend: TestBackend; next: () => Promise<TunnelEnd> }> {
  const backend = await startBackend(t, () => {});
  const waiting: ((end: TunnelEnd) => void)[] = [];
  const held: net.Socket[] = [];
  backend.server.on('upgrade', (_req, socket: net.Socket) => {
    socket.on('error', () => {});
    held.push(socket);
    socket.write(SWITCH);
    // Reads what comes, as a real backend does ('end' waits until what came before it was read).
    socket.resume();
    // An http server's sockets allow half-open: the balancer's FIN arrives as 'end', and the socket
    // closes only once this side ends too.
    waiting.shift()?.({ socket, closed: Promise.race([once(socket, 'end'), once(socket, 'close')]) });
  });
  t.after(() => {
    for (const socket of held) socket.destroy();
  });
  return {
    backend,
    // Asked for before the handshake is sent, so no tunnel goes unclaimed.
    next: () => new Promise<TunnelEnd>((resolve) => waiting.push(resolve)),
  };
}

/** connectClient sends the handshake on a raw connection; `answer` is the first bytes that come back. */
async function connectClient(t: TestContext, port: number) {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  t.after(() => socket.destroy());
  const closed = once(socket, 'close');
  await once(socket, 'connect');
  socket.write(HANDSHAKE);
  const answer = once(socket, 'data').then(([chunk]) => (chunk as Buffer).toString('latin1'));
  return { socket, closed, answer };
}

test('per_try_timeout: a handshake the only backend took and never answered gets a 504 after it', async (t) => {
  const hung = await hungBackend(t);
  const { balancer, metrics, port } = await startBalancer(
    t,
    config({ requestTimeout: 20_000, perTryTimeout: 300 }),
  );
  balancer.setGroup('web', ready(['hung', hung.address]));
  const client = await connectClient(t, port);
  // Before: no answer until request_timeout (20 s).
  const answer = await within(client.answer);
  assert.match(String(answer), /^HTTP\/1\.1 504 /, 'the client is answered 504 at per_try_timeout');
  assert.equal(hung.upgrades, 1, 'the backend had the handshake (a timeout after the connect)');
  assert.equal(await counter(metrics.upstreamErrors, { group: 'web', kind: 'timeout' }), 1);
  assert.notEqual(await within(client.closed), 'not within bound', 'the client connection is closed');
  await balancer.drain('web', 'hung');
  assert.equal(balancer.stats('web').backends[0]?.inFlight, 0, 'the cut handshake holds nothing');
});

test('per_try_timeout: a handshake cut on a silent backend is tried on the next, which opens the tunnel', async (t) => {
  const hung = await hungBackend(t);
  const live = await tunnelBackend(t);
  const { balancer, metrics, port } = await startBalancer(
    t,
    config({ algorithm: 'round-robin', requestTimeout: 20_000, perTryTimeout: 300 }),
  );
  // Round-robin picks `hung` first.
  balancer.setGroup('web', ready(['hung', hung.address], ['live', live.backend.address]));
  const liveEnd = live.next();
  const client = await connectClient(t, port);
  const answer = await within(client.answer);
  assert.equal(answer, SWITCH, 'the client gets the 101 of the live backend');
  assert.equal(hung.upgrades, 1, 'the silent backend had the handshake first');
  assert.equal(await counter(metrics.retries, { group: 'web' }), 1, 'one retry, for the cut try');
  const end = await liveEnd;
  client.socket.write('ping');
  const [got] = (await once(end.socket, 'data')) as [Buffer];
  assert.equal(got.toString(), 'ping', 'the tunnel carries the client bytes to the live backend');
  assert.deepEqual(
    balancer.stats('web').backends.map((b) => [b.id, b.inFlight]),
    [
      ['hung', 0],
      ['live', 1],
    ],
  );
});

/** gatewayOutlier ejects a backend at its `consecutive` gateway failures in a row, nothing else. */
function gatewayOutlier(consecutive: number, maxEjectionPercent: number) {
  return {
    consecutive5xx: 0,
    consecutiveGatewayErrors: consecutive,
    baseEjectionTime: 30_000,
    maxEjectionTime: 300_000,
    maxEjectionPercent,
    panicThreshold: 0,
  };
}

// request_timeout ending a handshake is the backend's failure, for outlier detection, as on the
// proxied path. Before, it counted nowhere: only connect errors and per-try cuts did.
test('request_timeout: a handshake whose connect it ended counts against that backend (ejected)', async (t) => {
  const first = await startBlackhole(t);
  const second = await startBlackhole(t);
  const { balancer, port } = await startBalancer(
    t,
    config({ requestTimeout: 600, connectTimeout: 400, outlier: gatewayOutlier(1, 100) }),
  );
  const ejections: string[] = [];
  balancer.on('ejection', (e: Ejection) => ejections.push(`${e.id} ${e.reason}`));
  // Round-robin picks `first`: its connect times out at 400 ms, the retry on `second` is still
  // connecting when request_timeout ends it at 600 ms.
  balancer.setGroup('web', ready(['first', first], ['second', second]));
  const client = await connectClient(t, port);
  assert.match(String(await within(client.answer)), /^HTTP\/1\.1 504 /);
  assert.deepEqual(ejections, ['first ConsecutiveGatewayErrors', 'second ConsecutiveGatewayErrors']);
});

test('request_timeout: a backend that takes handshakes and never answers them is ejected', async (t) => {
  const silent = await hungBackend(t);
  const live = await tunnelBackend(t);
  const { balancer, port } = await startBalancer(
    t,
    config({ algorithm: 'round-robin', requestTimeout: 500, outlier: gatewayOutlier(2, 50) }),
  );
  const ejections: string[] = [];
  balancer.on('ejection', (e: Ejection) => ejections.push(`${e.id} ${e.reason}`));
  balancer.setGroup('web', ready(['silent', silent.address], ['live', live.backend.address]));
  const answers: string[] = [];
  for (let i = 0; i < 6; i++) {
    const client = await connectClient(t, port);
    answers.push(String(await within(client.answer)).slice(0, 12));
  }
  // Before: the silent backend stayed in rotation and every other handshake got a 504 for good.
  assert.deepEqual(answers, [
    'HTTP/1.1 504',
    'HTTP/1.1 101',
    'HTTP/1.1 504',
    ...Array(3).fill('HTTP/1.1 101'),
  ]);
  assert.deepEqual(ejections, ['silent ConsecutiveGatewayErrors']);
  assert.equal(silent.upgrades, 2, 'no handshake went to the silent backend once it was ejected');
});

test('websocket_idle_timeout: a tunnel silent both ways is closed, both its connections', async (t) => {
  const live = await tunnelBackend(t);
  const { balancer, port } = await startBalancer(
    t,
    config({ requestTimeout: 20_000, websocketIdleTimeout: 300 }),
  );
  balancer.setGroup('web', ready(['live', live.backend.address]));
  const liveEnd = live.next();
  const client = await connectClient(t, port);
  assert.equal(await within(client.answer), SWITCH);
  const end = await liveEnd;
  // Before: open for good.
  assert.notEqual(await within(client.closed), 'not within bound', 'the client connection is closed');
  assert.notEqual(await within(end.closed), 'not within bound', 'the backend connection is closed');
  assert.equal(balancer.stats('web').backends[0]?.inFlight, 0, 'the closed tunnel is no longer in flight');
});

test('websocket_idle_timeout: tunnels with traffic one way or the other stay open past it', async (t) => {
  const IDLE = 1_500;
  const live = await tunnelBackend(t);
  const { balancer, port } = await startBalancer(
    t,
    config({ requestTimeout: 20_000, websocketIdleTimeout: IDLE }),
  );
  balancer.setGroup('web', ready(['live', live.backend.address]));
  // One tunnel over which only the client sends, one over which only the backend sends.
  const tunnels: {
    sender: string;
    from: net.Socket;
    client: Awaited<ReturnType<typeof connectClient>>;
    end: TunnelEnd;
    closed: () => string | undefined;
  }[] = [];
  for (const sender of ['client', 'backend'] as const) {
    const liveEnd = live.next();
    const client = await connectClient(t, port);
    assert.equal(await within(client.answer), SWITCH);
    const end = await liveEnd;
    let closedAt: string | undefined;
    client.closed.then(() => (closedAt ??= 'client'));
    end.closed.then(() => (closedAt ??= 'backend'));
    tunnels.push({
      sender,
      from: sender === 'client' ? client.socket : end.socket,
      client,
      end,
      closed: () => closedAt,
    });
  }
  // A message every tenth of the idle timeout, for three times it: the traffic itself, not a wait.
  const started = performance.now();
  const done = deferred();
  const tick = (): void => {
    for (const { from } of tunnels) from.write('tick');
    if (performance.now() - started < 3 * IDLE) setTimeout(tick, IDLE / 10);
    else done.resolve();
  };
  tick();
  await done.promise;
  for (const { sender, closed } of tunnels)
    assert.equal(closed(), undefined, `the tunnel over which only the ${sender} sent is still open`);
  // Once quiet, each is closed at the idle timeout after its last message.
  for (const { sender, client, end } of tunnels) {
    assert.notEqual(await within(client.closed), 'not within bound', `${sender}: client connection closed`);
    assert.notEqual(await within(end.closed), 'not within bound', `${sender}: backend connection closed`);
  }
});

// The `clientError` listener's log lines for refused requests (garbage, smuggling shapes, slow
// headers) against a real node:http listener on 127.0.0.1, raw bytes over TCP. The clock of the
// throttle is the test's, so the interval does not depend on how fast the machine is.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type TestContext, test } from 'node:test';
import { onClientError } from '../../src/log/index.js';
import { sendRaw } from '../helpers/raw-http.js';

interface Line {
  obj: { code?: string; status?: number; suppressed?: number };
  msg: string | undefined;
}

/** listen starts a node:http server on 127.0.0.1 whose clientError listener logs to `lines`. */
async function listen(t: TestContext, clock: { now: number }) {
  const lines: Line[] = [];
  const listener = onClientError({ warn: (obj, msg) => void lines.push({ obj, msg }) }, 'edge', {
    now: () => clock.now,
    intervalMs: 10_000,
  });
  const server = http.createServer((_req, res) => res.end('ok'));
  server.on('clientError', listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    listener.flush(Number.POSITIVE_INFINITY);
    server.close();
  });
  return { lines, listener, port: (server.address() as AddressInfo).port };
}

const GARBAGE = 'G ET / HTTP/1.1\r\nHost: x\r\n\r\n';

test('50 malformed requests of one cause write one line, then one with the count once the interval is over', async (t) => {
  const clock = { now: 0 };
  const { lines, listener, port } = await listen(t, clock);
  const answers = await Promise.all(
    Array.from({ length: 50 }, () => sendRaw(port, GARBAGE, { keepOpen: true })),
  );
  assert.deepEqual(
    new Set(answers.map((a) => a.status)),
    new Set([400]),
    'every request is still refused with 400',
  );
  // Another cause is logged on its own, throttled or not.
  const overflow = await sendRaw(
    port,
    `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`,
    {
      keepOpen: true,
    },
  );
  assert.equal(overflow.status, 431);
  // Before, 50 lines for the garbage: one per connection.
  const first = lines.map((l) => [l.msg, l.obj.code, l.obj.status]);
  const garbageCode = lines[0]?.obj.code;
  assert.match(garbageCode ?? '', /^HPE_/, 'a parser error code');
  assert.deepEqual(
    first,
    [
      ['edge: malformed or slow request refused', garbageCode, 400],
      ['edge: malformed or slow request refused', 'HPE_HEADER_OVERFLOW', 431],
    ],
    'one line per cause, none for the 49 after the first within the interval',
  );
  listener.flush();
  assert.equal(lines.length, 2, 'nothing more is written while the interval lasts');
  clock.now = 10_000;
  listener.flush();
  assert.deepEqual(
    lines.slice(2).map((l) => [l.msg, l.obj.code, l.obj.status, l.obj.suppressed]),
    [
      [
        'edge: malformed or slow request refused: 49 more requests refused the same way, not logged',
        garbageCode,
        400,
        49,
      ],
    ],
    'once the interval is over, one line says how many were left out (none for the cause seen once)',
  );
});

test('the first refusal after the interval carries the count of those left out before it', async (t) => {
  const clock = { now: 0 };
  const { lines, port } = await listen(t, clock);
  for (let i = 0; i < 5; i++) assert.equal((await sendRaw(port, GARBAGE, { keepOpen: true })).status, 400);
  clock.now = 10_000;
  assert.equal((await sendRaw(port, GARBAGE, { keepOpen: true })).status, 400);
  assert.deepEqual(
    lines.map((l) => [l.msg, l.obj.suppressed]),
    [
      ['edge: malformed or slow request refused', undefined],
      ['edge: malformed or slow request refused (and 4 more like it not logged)', 4],
    ],
  );
});

import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MetricSourceError, PrometheusSource } from '../../src/metrics/index.js';

// The read's deadline is a plain timer: an AbortSignal.timeout can be garbage-collected before it
// fires on Node 20, and a server that accepted and never answered then held the read for good.
// gc() without --expose-gc on the command line (the test runner takes no flags per file).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** silentServer accepts connections and answers each as `answer` says (never, or in part). */
async function silentServer(t: TestContext, answer: (socket: Socket) => void): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    answer(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** readUnderGc reads `source` while collecting garbage every few ms; resolves how it ended and when. */
async function readUnderGc(source: PrometheusSource): Promise<{ err: unknown; ms: number }> {
  const collecting = setInterval(gc, 5);
  const start = performance.now();
  try {
    await source.read();
    return { err: undefined, ms: performance.now() - start };
  } catch (err) {
    return { err, ms: performance.now() - start };
  } finally {
    clearInterval(collecting);
  }
}

describe('PrometheusSource: the read deadline holds', () => {
  // timeout 100 ms: the request waits 1.1 s (ANSWER_GRACE_MS more), then fails.
  const cases = [
    { name: 'a server that accepts and never answers', answer: () => {} },
    {
      // Before, the body was read after the deadline's signal: a stalled body failed as
      // "200: unexpected response", not as the missing answer it was.
      name: 'a server that sends the head and stalls the body',
      answer: (socket: Socket) =>
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"st'),
    },
  ];
  for (const { name, answer } of cases) {
    it(`${name}: fails at the deadline, garbage collected meanwhile`, async (t) => {
      const url = await silentServer(t, answer);
      const source = new PrometheusSource({ url, query: 'up', timeout: 100 });
      t.after(() => source.close());
      const { err, ms } = await readUnderGc(source);
      assert.ok(err instanceof MetricSourceError, `expected a MetricSourceError, got ${String(err)}`);
      assert.equal(err.code, 'SOURCE_FAILED');
      assert.match(err.message, /^prometheus at http:\/\/127\.0\.0\.1:\d+: no answer within 1\.1 s$/);
      assert.ok(ms >= 1000 && ms < 3000, `failed after ${Math.round(ms)} ms, not at 1.1 s`);
    });
  }
});

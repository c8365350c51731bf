// Hostile input on the balancer's request parsing (acceptance 3 of issue 10), over raw TCP:
// request smuggling shapes (Content-Length with Transfer-Encoding, duplicate or conflicting
// Content-Length, bad chunk sizes), obs-fold, invalid header bytes, huge headers, random bytes, and
// slowloris. Every input gets a 4xx or a closed connection and a log line, never a 5xx or a crash,
// and a rejected request never reaches the backend (no smuggled request either). FUZZ_RUNS sets the
// runs of the random property (default 200).
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { Balancer } from '../../src/balancer/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { sendRaw } from '../helpers/raw-http.js';
import { config, ready, startBackend, type TestBackend } from './helpers.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const HEADERS_TIMEOUT = 1_000;

const GOOD = 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';

/** Shapes every HTTP/1.1 parser must refuse (RFC 9112 §6.1, §6.3, §5.2; the classic smuggling set). */
const SMUGGLING: [name: string, request: string, streamed?: 'streamed'][] = [
  [
    'Content-Length and Transfer-Encoding (CL.TE)',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
  ],
  [
    'Transfer-Encoding and Content-Length (TE.CL)',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n0\r\n\r\n',
  ],
  [
    'conflicting Content-Length',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
  ],
  ['Content-Length list', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0, 44\r\n\r\n'],
  ['negative Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'],
  ['Content-Length with a plus sign', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello'],
  ['hex Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello'],
  [
    'obfuscated Transfer-Encoding',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\nhello',
  ],
  [
    'Transfer-Encoding not ending in chunked',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
  ],
  ['space before the colon', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n'],
  [
    'bad chunk size',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
  ],
  [
    'chunk size overflow',
    `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${'f'.repeat(20)}\r\nx\r\n`,
  ],
  // Bodies are streamed: the request has started towards the backend when the bad chunk arrives;
  // it is cut there (the backend sees an aborted request) and nothing after it is read.
  [
    'chunk without its CRLF',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n',
    'streamed',
  ],
  ['obs-fold', 'GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\r\n'],
  ['NUL in a header value', 'GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\u0000b\r\n\r\n'],
  ['invalid header name', 'GET / HTTP/1.1\r\nHost: x\r\nBad Name: a\r\n\r\n'],
  ['bare LF line endings mixed with CR', 'GET / HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n'],
  ['no Host header in HTTP/1.1', 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n'],
  ['two Host headers', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
  ['huge header block', `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`],
  ['HTTP/2.0 in HTTP/1 syntax', 'GET / HTTP/2.0\r\nHost: x\r\n\r\n'],
  ['unknown HTTP version', 'GET / HTTP/9.9\r\nHost: x\r\n\r\n'],
  ['method with a space', 'G ET / HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['request target with a space', 'GET /a b HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['control byte in the target', 'GET /a\u0001 HTTP/1.1\r\nHost: x\r\n\r\n'],
];

describe('hostile input on the balancer', () => {
  let backend: TestBackend;
  let balancer: Balancer;
  let port: number;
  const warnings: string[] = [];
  const paths: string[] = [];
  const outcomes = new Map<string, number>();
  // Refusals are logged once per cause (error code) per throttle interval: each test steps the
  // balancer's clock past the interval, so the line it looks for is the first of its cause.
  let skippedMs = 0;
  const nextLogInterval = (): void => {
    skippedMs += 60_000;
  };

  before(async () => {
    const t = { after: (fn: () => void) => cleanups.push(fn) } as unknown as Parameters<
      typeof startBackend
    >[0];
    backend = await startBackend(t, (req, res) => {
      paths.push(req.url ?? '');
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    balancer = new Balancer({
      config: config({ headersTimeout: HEADERS_TIMEOUT, requestTimeout: 5_000, maxRequestBody: 1024 * 1024 }),
      metrics: createMetrics({ defaultMetrics: false }),
      now: () => performance.now() + skippedMs,
      logger: {
        info() {},
        warn: (_fields, message) => warnings.push(message),
        error: (_fields, message) => warnings.push(message),
      },
    });
    port = (await balancer.listen()).port;
    balancer.setGroup('web', ready(['a', backend.address]));
  });
  const cleanups: (() => void)[] = [];
  after(async () => {
    await balancer.close();
    for (const fn of cleanups) fn();
    if (process.env.FUZZ_RUNS)
      console.log(`FUZZ balancer random requests: ${JSON.stringify(Object.fromEntries(outcomes))}`);
  });

  it('serves a well-formed request (the control case)', async () => {
    const before = backend.requests;
    const answer = await sendRaw(port, GOOD, { keepOpen: true });
    assert.equal(answer.status, 200);
    assert.equal(backend.requests, before + 1);
  });

  for (const [name, request, streamed] of SMUGGLING) {
    it(`refuses ${name}: 4xx or closed, logged, nothing reaches the backend`, async () => {
      const before = backend.requests;
      nextLogInterval();
      const logged = warnings.length;
      const answer = await sendRaw(port, request, { keepOpen: true });
      assert.ok(
        answer.status === undefined || (answer.status >= 400 && answer.status < 500),
        `${name} → ${answer.text.slice(0, 200)}`,
      );
      if (!streamed) assert.equal(backend.requests, before, 'the backend saw nothing');
      assert.ok(!paths.includes('/smuggled'), 'no smuggled request reached the backend');
      assert.ok(warnings.length > logged, 'the refusal is logged');
      // The balancer still serves.
      assert.equal((await sendRaw(port, GOOD, { keepOpen: true })).status, 200);
    });
  }

  it('random request bytes: never a 5xx; the balancer keeps serving', async () => {
    const token = fc.string({ unit: 'binary-ascii', minLength: 0, maxLength: 12 });
    const headerLine = fc.oneof(
      fc.tuple(token, token).map(([k, v]) => `${k}: ${v}`),
      fc.constantFrom(
        'Content-Length: 5',
        'Content-Length: 99999999999999999999',
        'Transfer-Encoding: chunked',
        'Transfer-Encoding: gzip',
        'Expect: 100-continue',
        'Connection: keep-alive, Upgrade',
        ' folded',
        'Host: x',
        'Host: x',
      ),
    );
    const request = fc
      .tuple(
        fc.constantFrom('GET', 'POST', 'PUT', 'HEAD', 'OPTIONS', 'DELETE', 'FOO', 'get', ''),
        fc.oneof(fc.constantFrom('/', '/a?b=c', '*', 'http://x/', '//x', '/%zz', '/..%2f..'), token),
        fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 ', ''),
        fc.array(headerLine, { maxLength: 6 }),
        fc.oneof(
          fc.constant(''),
          fc.string({ unit: 'binary-ascii', maxLength: 40 }),
          fc.constant('0\r\n\r\n'),
        ),
        fc.constantFrom('\r\n', '\n'),
      )
      .map(([method, target, version, headers, body, eol]) =>
        [`${method} ${target} ${version}`, ...headers, '', body].join(eol),
      );
    await fc.assert(
      fc.asyncProperty(fc.oneof(request, fc.string({ unit: 'binary', maxLength: 200 })), async (bytes) => {
        // Half-closed after the bytes: an incomplete request ends at once instead of timing out.
        const answer = await sendRaw(port, bytes, { timeoutMs: HEADERS_TIMEOUT * 4 });
        const outcome =
          answer.status === undefined ? (answer.closed ? 'closed' : 'no answer') : String(answer.status);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        // A 5xx would mean the balancer broke, except 501 for a transfer coding it declines (RFC 9112 §6.1).
        const declinedCoding =
          answer.status === 501 && /transfer coding .* is not supported/.test(answer.text);
        assert.ok(
          answer.status === undefined || answer.status < 500 || declinedCoding,
          `${JSON.stringify(bytes)} → ${answer.text.slice(0, 200)}`,
        );
        assert.ok(!paths.includes('/smuggled'), "!paths.includes('/smuggled')");
      }),
      { numRuns: RUNS },
    );
    assert.equal((await sendRaw(port, GOOD, { keepOpen: true })).status, 200);
  });

  it('slowloris: headers trickled byte by byte are cut at headers_timeout with a 408, logged', async () => {
    nextLogInterval();
    const logged = warnings.length;
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString();
    });
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => {});
    const started = performance.now();
    // One header byte every 100 ms: 20 s of trickle if nobody stopped it.
    const trickle = `GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(200)}`;
    let sent = 0;
    const timer = setInterval(() => {
      if (sent < trickle.length && !socket.destroyed) socket.write(trickle[sent++]!);
    }, 100);
    await closed;
    clearInterval(timer);
    const tookMs = performance.now() - started;
    assert.match(received, /^HTTP\/1\.1 408 /);
    assert.ok(
      sent < trickle.length,
      `closed after ${sent} of ${trickle.length} bytes (${Math.round(tookMs)} ms)`,
    );
    assert.ok(warnings.length > logged, 'the slow client is logged');
    assert.equal((await sendRaw(port, GOOD, { keepOpen: true })).status, 200);
  });
});

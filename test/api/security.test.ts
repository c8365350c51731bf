// The control plane's security review, as tests: every finding that was fixed has one here that
// fails without its fix. Real HTTP on 127.0.0.1, real files in the temp folder.
import assert from 'node:assert/strict';
import { chown, lstat, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  inspectTokenFile,
  isLoopbackHostHeader,
  MAX_BODY_BYTES,
  readTokenFile,
  tokenFilePath,
  writeTokenFile,
} from '../../src/api/index.js';
import { READ_TOKEN, startApi, TOKEN } from '../helpers/api-harness.js';
import { makeCertificate, preHandshakeOutcome } from '../helpers/tls.js';

/** rawRequest sends `head` and then `body` over one TCP connection; resolves with all the server sent. */
function rawRequest(port: number, head: string, body: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    // The server closes after its answer; a server that never answers fails the test in 10 s.
    socket.setTimeout(10_000, () => {
      socket.destroy();
      reject(new Error(`no answer and no close within 10 s; got ${Buffer.concat(received).length} bytes`));
    });
    const received: Buffer[] = [];
    socket.on('data', (chunk) => received.push(chunk));
    socket.on('error', (err) => ((err as { code?: string }).code === 'ECONNRESET' ? undefined : reject(err)));
    socket.on('close', () => resolve(Buffer.concat(received).toString('latin1')));
    socket.write(head);
    socket.write(body);
  });
}

describe('request bodies', () => {
  it('a chunked body over 64 KiB is a 413 with Connection: close, and the process lives on', async (t) => {
    const api = await startApi();
    t.after(api.close);
    // No Content-Length: the limit is found while reading. This used to end the whole process (an
    // unhandled TypeError on the destroyed request's socket).
    const chunk = Buffer.alloc(16 * 1024, 'x');
    const chunks = Math.ceil((MAX_BODY_BYTES * 2) / chunk.length);
    const body = Buffer.concat(
      Array.from({ length: chunks }, () =>
        Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]),
      ).concat(Buffer.from('0\r\n\r\n')),
    );
    const answer = await rawRequest(
      api.port,
      'POST /api/scalability/scale-group HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
        `Authorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
      body,
    );
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.match(answer, /\r\nconnection: close\r\n/i);
    assert.match(answer, /\{"error":"body: larger than 65536 bytes"\}$/);
    assert.equal((await api.call('/api/scalability/groups')).status, 200, 'still serving');
    assert.equal(api.provider.desired(), 1, 'nothing changed');
  });

  it('a declared Content-Length over 64 KiB is refused without reading the body', async (t) => {
    const api = await startApi();
    t.after(api.close);
    // Only the head and a sliver of the declared 100 MB are sent: the answer comes at once.
    const answer = await rawRequest(
      api.port,
      'POST /api/scalability/scale-group HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
        `Authorization: Bearer ${TOKEN}\r\nContent-Length: 100000000\r\n\r\n`,
      Buffer.from('{"group":'),
    );
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.match(answer, /\r\nconnection: close\r\n/i);
  });
});

describe('TLS', () => {
  it('a client that sends no ClientHello, or plain HTTP, is closed', async (t) => {
    const cert = await makeCertificate();
    t.after(() => cert.remove());
    const warnings: string[] = [];
    const api = await startApi({
      server: {
        tls: { cert: cert.certPath, key: cert.keyPath },
        headersTimeoutMs: 300,
        logger: { warn: (obj, msg) => void warnings.push(`${msg} ${(obj as { code?: string }).code}`) },
      },
    });
    t.after(api.close);
    // Before, both were held for good: the 'clientError' listener wrote an HTTP 408/400 into a TLS
    // session that never came to be and never closed the socket (the silent one only after
    // node:tls's 120 s handshake timeout at that; the headers timeout starts after the handshake).
    const [silent, plain] = await Promise.all([
      preHandshakeOutcome(api.port, '', 15_000),
      preHandshakeOutcome(api.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 15_000),
    ]);
    assert.equal(
      silent,
      'closed',
      'a silent connection still open 15 s after connecting (headers timeout 300 ms)',
    );
    assert.equal(plain, 'closed', 'a plain HTTP request to the HTTPS API still open 15 s after it was sent');
    assert.deepEqual(
      warnings,
      ['api: TLS handshake failed or timed out, connection closed ERR_TLS_HANDSHAKE_TIMEOUT'],
      'the silent client is logged (node:tls itself closes the one speaking plain HTTP, unheard)',
    );
  });
});

describe('response headers', () => {
  it('API answers are not cached or sniffed, errors included', async (t) => {
    const api = await startApi();
    t.after(api.close);
    for (const [path, token] of [
      ['/api/scalability/groups', TOKEN],
      ['/api/scalability/groups', null],
      ['/api/scalability/nope%3Cscript%3E', TOKEN],
    ] as const) {
      const res = await fetch(`${api.base}${path}`, {
        headers: token === null ? {} : { authorization: `Bearer ${token}` },
      });
      assert.equal(res.headers.get('cache-control'), 'no-store', path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    }
  });

  it('the dashboard page has a strict CSP, no framing, no referrer', async (t) => {
    const api = await startApi();
    t.after(api.close);
    const res = await fetch(`${api.base}/`);
    assert.equal(res.status, 200);
    const csp = Object.fromEntries(
      (res.headers.get('content-security-policy') ?? '').split(';').map((d) => {
        const [name, ...values] = d.trim().split(/\s+/);
        return [name, values.join(' ')];
      }),
    );
    assert.equal(csp['default-src'], "'none'");
    assert.equal(csp['script-src'], "'self'");
    assert.equal(csp['style-src'], "'self'", 'no inline styles');
    assert.equal(csp['form-action'], "'none'", 'no form can carry the token into a URL');
    assert.equal(csp['base-uri'], "'none'");
    assert.equal(csp['frame-ancestors'], "'none'");
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  });
});

/** getWithHost sends GET `path` with a chosen Host header (fetch does not allow setting it). */
function getWithHost(port: number, path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('DNS rebinding', () => {
  it('public /metrics on a loopback API answers loopback Host names only; a token works with any', async (t) => {
    const api = await startApi({ server: { publicMetrics: true } });
    t.after(api.close);
    for (const host of [`127.0.0.1:${api.port}`, `localhost:${api.port}`, 'LOCALHOST', `[::1]:${api.port}`])
      assert.equal(await getWithHost(api.port, '/metrics', host), 200, host);
    for (const host of ['evil.example', `evil.example:${api.port}`, '127.0.0.1.evil.example'])
      assert.equal(await getWithHost(api.port, '/metrics', host), 421, JSON.stringify(host));
    const withToken = await new Promise<number>((resolve, reject) => {
      request(
        {
          host: '127.0.0.1',
          port: api.port,
          path: '/metrics',
          headers: { host: 'metrics.internal', authorization: `Bearer ${READ_TOKEN}` },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      )
        .on('error', reject)
        .end();
    });
    assert.equal(withToken, 200, 'a scraper behind a proxy that keeps its own Host sends the token');
  });

  const hosts: [string | undefined, boolean][] = [
    ['localhost', true],
    ['localhost:9090', true],
    ['127.0.0.1:9090', true],
    ['127.8.9.10', true],
    ['[::1]:9090', true],
    ['[::1]', true],
    [undefined, false],
    ['', false],
    ['evil.example', false],
    ['localhost.evil.example', false],
    ['127.0.0.1.nip.io', false],
    ['[::2]:9090', false],
    ['localhost:9090:1', false],
  ];
  for (const [host, loopback] of hosts) {
    it(`Host ${JSON.stringify(host)} → ${loopback ? 'loopback' : 'foreign'}`, () => {
      assert.equal(isLoopbackHostHeader(host), loopback);
    });
  }
});

describe('the generated token file', () => {
  // A port no test API uses: these files live in the shared temp folder.
  const port = 1;
  const path = tokenFilePath(port);

  it('is written 0600, through no symlink planted at its name', async (t) => {
    t.after(() => rm(path, { force: true }));
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-victim-'));
    const victim = join(dir, 'victim');
    await writeFile(victim, 'untouched');
    await symlink(victim, path).catch(async () => {
      await rm(path, { force: true });
      await symlink(victim, path);
    });
    await writeTokenFile(port, 'generated-token-0123456789');
    assert.equal((await lstat(path)).isSymbolicLink(), false);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal(await readTokenFile(port), 'generated-token-0123456789');
    assert.equal((await import('node:fs')).readFileSync(victim, 'utf8'), 'untouched');
  });

  it('is not trusted when others may read it, when it is a symlink, or when another user owns it', async (t) => {
    t.after(() => rm(path, { force: true }));
    await rm(path, { force: true });
    await writeFile(path, 'planted-token-0123456789\n', { mode: 0o644 });
    assert.equal(await readTokenFile(port), undefined, 'mode 0644');
    assert.deepEqual(await inspectTokenFile(port), {
      untrusted: 'others may read or write it (mode 644, not 600)',
    });

    await rm(path);
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-planted-'));
    await writeFile(join(dir, 'token'), 'planted-token-0123456789\n', { mode: 0o600 });
    await symlink(join(dir, 'token'), path);
    assert.equal(await readTokenFile(port), undefined, 'a symlink');
    assert.deepEqual(await inspectTokenFile(port), { untrusted: 'it is a symlink' });

    await rm(path);
    await writeFile(path, 'planted-token-0123456789\n', { mode: 0o600 });
    if (process.getuid?.() === 0) {
      await chown(path, 65534, 65534); // nobody
      assert.equal(await readTokenFile(port), undefined, 'owned by nobody');
      assert.deepEqual(await inspectTokenFile(port), {
        untrusted: 'it belongs to uid 65534, not to you (uid 0)',
      });
    }
  });
});

/** send makes one request with exactly `headers` (no token unless they carry one); resolves with the status. */
function send(port: number, method: string, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the failed-authentication limit cannot be spent by a web page', () => {
  it('requests without a token (what any page can make a browser send) are 401s that lock no one out', async (t) => {
    const api = await startApi({ server: { authFailuresPerMinute: 10 } });
    t.after(api.close);
    // A page on another site, open in the operator's browser: a no-cors GET, a form POST, and the
    // preflight of a fetch that would add a token. None can carry a token. Before: the 11th got 429,
    // and so did the operator's CLI with the admin token, for as long as the page kept at it.
    const crossSite = { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' };
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      statuses.push(await send(api.port, 'GET', '/api/scalability/groups', crossSite));
      statuses.push(
        await send(api.port, 'POST', '/api/scalability/scale-group', {
          ...crossSite,
          'content-type': 'application/x-www-form-urlencoded',
        }),
      );
      statuses.push(
        await send(api.port, 'OPTIONS', '/api/scalability/scale-group', {
          ...crossSite,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization',
        }),
      );
    }
    assert.deepEqual(new Set(statuses), new Set([401]), `every tokenless request is a 401: ${statuses}`);
    assert.equal((await api.call('/api/scalability/groups')).status, 200, 'the admin token still works');
    assert.equal(api.provider.desired(), 1, 'nothing changed');
  });

  it("a DNS-rebinding page's wrong tokens lock out only requests naming a foreign Host", async (t) => {
    const api = await startApi({ server: { authFailuresPerMinute: 10 } });
    t.after(api.close);
    // evil.example resolved to 127.0.0.1: the page is same-origin with itself and may send a token,
    // but the Host it sends is its own name. Before, its 11th guess locked out 127.0.0.1 entirely.
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++)
      statuses.push(
        await send(api.port, 'GET', '/api/scalability/groups', {
          host: `${i % 2 ? 'a' : 'b'}.evil.example:${api.port}`,
          authorization: `Bearer guess-${i}-0123456789`,
        }),
      );
    assert.deepEqual(statuses, [...Array(10).fill(401), 429, 429], 'the guesses are still limited');
    assert.equal(
      await send(api.port, 'GET', '/api/scalability/groups', {
        host: `c.evil.example:${api.port}`,
        authorization: `Bearer ${TOKEN}`,
      }),
      429,
      'a fresh foreign name buys no fresh guesses',
    );
    assert.equal((await api.call('/api/scalability/groups')).status, 200, 'the CLI on 127.0.0.1 is answered');
    assert.equal(
      await send(api.port, 'GET', '/api/scalability/groups', {
        host: `localhost:${api.port}`,
        authorization: `Bearer ${TOKEN}`,
      }),
      200,
      'and so is a browser on localhost (the dashboard)',
    );
  });
});

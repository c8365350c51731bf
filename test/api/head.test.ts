// HEAD on the API's GET routes answers as GET would, head only (RFC 9110 9.3.2): same status and
// headers, no body; auth and roles apply as to GET. Real HTTP on 127.0.0.1.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { READ_TOKEN, startApi, TOKEN } from '../helpers/api-harness.js';

/** rawHead sends one HEAD request with Connection: close; resolves with everything the server sent. */
function rawHead(port: number, path: string, token: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (chunk) => received.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(received).toString('latin1')));
    socket.write(
      `HEAD ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
    );
  });
}

describe('HEAD on GET routes', () => {
  it('answers with GET’s status and headers and no body, for each GET route', async (t) => {
    const api = await startApi({ server: { publicMetrics: false } });
    t.after(api.close);
    for (const path of [
      '/api/scalability/groups',
      '/api/scalability/groups/web',
      '/api/scalability/groups/nope',
      '/api/scalability/events?limit=5',
      '/api/openapi.json',
      '/metrics',
      '/healthz',
    ]) {
      const headers = { authorization: `Bearer ${READ_TOKEN}` };
      const get = await fetch(`${api.base}${path}`, { headers });
      await get.arrayBuffer();
      const head = await fetch(`${api.base}${path}`, { method: 'HEAD', headers });
      assert.equal(head.status, get.status, path);
      assert.equal(await head.text(), '', path);
      for (const name of ['content-type', 'cache-control', 'x-content-type-options'])
        assert.equal(head.headers.get(name), get.headers.get(name), `${path} ${name}`);
      // The journal and metrics may change between the two; the static answers may not.
      if (!path.includes('events') && path !== '/metrics')
        assert.equal(head.headers.get('content-length'), get.headers.get('content-length'), path);
    }
  });

  it('sends no body bytes on the wire', async (t) => {
    const api = await startApi();
    t.after(api.close);
    const answer = await rawHead(api.port, '/api/scalability/groups', TOKEN);
    assert.match(answer, /^HTTP\/1\.1 200 /);
    assert.match(answer, /\r\ncontent-length: \d+\r\n/i);
    assert.ok(answer.endsWith('\r\n\r\n'), `nothing after the head: ${JSON.stringify(answer.slice(-80))}`);
  });

  it('wants a token as GET does, and a read token is enough', async (t) => {
    const api = await startApi();
    t.after(api.close);
    const head = (path: string, token?: string) =>
      fetch(`${api.base}${path}`, {
        method: 'HEAD',
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      });
    const refused = await head('/api/scalability/groups');
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('www-authenticate'), 'Bearer realm="scaleplane"');
    assert.equal((await head('/api/scalability/groups', 'wrong-token')).status, 401);
    assert.equal((await head('/metrics')).status, 401);
    assert.equal((await head('/api/scalability/events', READ_TOKEN)).status, 200);
    // A POST-only route still answers 405 to HEAD, now with Allow.
    const post = await head('/api/scalability/scale-group', READ_TOKEN);
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'POST');
  });

  it('on the live stream: the stream’s head, no events, and the response ends', async (t) => {
    const api = await startApi();
    t.after(api.close);
    const res = await fetch(`${api.base}/api/scalability/stream`, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${READ_TOKEN}` },
      // Only a guard: a HEAD held open like a GET stream would otherwise hang the test.
      signal: AbortSignal.timeout(5_000),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(await res.text(), '');
    const unknown = await fetch(`${api.base}/api/scalability/stream?group=db`, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${READ_TOKEN}` },
    });
    assert.equal(unknown.status, 404);
  });

  it('GET answers of the routes are unchanged by HEAD support (405 for other methods)', async (t) => {
    const api = await startApi();
    t.after(api.close);
    const res = await api.call('/api/scalability/groups', { method: 'DELETE' });
    assert.equal(res.status, 405);
    assert.equal(res.body.error, 'method DELETE not allowed; use GET or HEAD');
  });
});
